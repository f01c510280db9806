//! Placement's SQL: the only place that reads or writes `placement_*`
//! tables. The same statements run on SQLite and PostgreSQL.

use std::collections::{BTreeMap, HashMap};

use db::row::{get_i, get_oi, get_os, get_s};
use db::sqlx::{self, Any, AnyConnection};
use db::{AnyRow, Db, DbError, DbResult, Row};

use crate::model::*;

pub static MIGRATIONS: &[db::MigrationSet] = &[
    db::MigrationSet {
        version: 2000,
        description: "placement initial schema",
        sqlite: include_str!("../migrations/2000_initial.sqlite.sql"),
        postgres: include_str!("../migrations/2000_initial.postgres.sql"),
    },
    db::MigrationSet {
        version: 2001,
        description: "placement allocation changes logged by trigger",
        sqlite: include_str!("../migrations/2001_allocation_change_log.sqlite.sql"),
        postgres: include_str!("../migrations/2001_allocation_change_log.postgres.sql"),
    },
];

pub type Tx = sqlx::Transaction<'static, Any>;

fn e(err: sqlx::Error) -> DbError {
    DbError::from_sqlx(err)
}

pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

pub async fn begin(db: &Db) -> DbResult<Tx> {
    db.writer().begin().await.map_err(e)
}

/// Every write that changes what allocation candidates see starts here: it
/// takes the one `placement_state` row (so such writes run one at a time, in
/// `seq` order, on every backend) and returns the new sequence number.
pub async fn bump(tx: &mut AnyConnection) -> DbResult<i64> {
    let seq: i64 = sqlx::query_scalar("UPDATE placement_state SET seq = seq + 1 WHERE id = 1 RETURNING seq")
        .fetch_one(&mut *tx)
        .await
        .map_err(e)?;
    if seq % 1000 == 0 && seq > 20_000 {
        let below = seq - 20_000;
        sqlx::query("DELETE FROM placement_changes WHERE seq < $1").bind(below).execute(&mut *tx).await.map_err(e)?;
        sqlx::query("UPDATE placement_state SET pruned_below = $1 WHERE id = 1")
            .bind(below)
            .execute(&mut *tx)
            .await
            .map_err(e)?;
    }
    Ok(seq)
}

/// Records which providers a write (numbered `seq`) changed.
pub async fn log_changes(tx: &mut AnyConnection, seq: i64, providers: &[i64]) -> DbResult<()> {
    let mut ids: Vec<i64> = providers.to_vec();
    ids.sort_unstable();
    ids.dedup();
    // Bound values, not literals: the statement text then depends only on the
    // number of providers and stays in the prepared-statement cache.
    for chunk in ids.chunks(400) {
        let values: Vec<String> = (0..chunk.len()).map(|i| format!("($1, ${})", i + 2)).collect();
        let sql = format!("INSERT INTO placement_changes (seq, resource_provider_id) VALUES {}", values.join(","));
        let mut q = sqlx::query(&sql).bind(seq);
        for id in chunk {
            q = q.bind(*id);
        }
        q.execute(&mut *tx).await.map_err(e)?;
    }
    Ok(())
}

pub async fn state(db: &Db) -> DbResult<(i64, i64)> {
    let r = sqlx::query("SELECT seq, pruned_below FROM placement_state WHERE id = 1")
        .fetch_one(db.reader())
        .await
        .map_err(e)?;
    Ok((get_i(&r, "seq"), get_i(&r, "pruned_below")))
}

pub async fn changed_since(db: &Db, seq: i64) -> DbResult<Vec<i64>> {
    sqlx::query_scalar("SELECT DISTINCT resource_provider_id FROM placement_changes WHERE seq > $1")
        .bind(seq)
        .fetch_all(db.reader())
        .await
        .map_err(e)
}

// ---------- resource providers ----------

const RP_SELECT: &str = "SELECT rp.id, rp.uuid, rp.name, rp.generation, rp.parent_provider_id, rp.root_provider_id, \
     p.uuid AS parent_uuid, r.uuid AS root_uuid, rp.created_at, rp.updated_at \
     FROM placement_resource_providers rp \
     LEFT JOIN placement_resource_providers p ON p.id = rp.parent_provider_id \
     LEFT JOIN placement_resource_providers r ON r.id = rp.root_provider_id";

fn rp_row(r: &AnyRow) -> ProviderRow {
    let id = get_i(r, "id");
    let uuid = get_s(r, "uuid");
    ProviderRow {
        id,
        name: get_s(r, "name"),
        generation: get_i(r, "generation"),
        parent_id: get_oi(r, "parent_provider_id"),
        root_id: get_oi(r, "root_provider_id").unwrap_or(id),
        parent_uuid: get_os(r, "parent_uuid"),
        root_uuid: get_os(r, "root_uuid").unwrap_or_else(|| uuid.clone()),
        uuid,
        created_at: get_s(r, "created_at"),
        updated_at: get_s(r, "updated_at"),
    }
}

pub async fn get_provider(conn: &mut AnyConnection, uuid: &str) -> DbResult<Option<ProviderRow>> {
    let r = sqlx::query(&format!("{RP_SELECT} WHERE rp.uuid = $1"))
        .bind(uuid)
        .fetch_optional(&mut *conn)
        .await
        .map_err(e)?;
    Ok(r.as_ref().map(rp_row))
}

pub async fn get_provider_ro(db: &Db, uuid: &str) -> DbResult<Option<ProviderRow>> {
    let mut conn = db.reader().acquire().await.map_err(e)?;
    get_provider(&mut conn, uuid).await
}

pub async fn providers_by_ids(db: &Db, ids: &[i64]) -> DbResult<Vec<ProviderRow>> {
    let mut out = Vec::new();
    for chunk in ids.chunks(500) {
        let list: Vec<String> = chunk.iter().map(|i| i.to_string()).collect();
        let rows = sqlx::query(&format!("{RP_SELECT} WHERE rp.id IN ({})", list.join(",")))
            .fetch_all(db.reader())
            .await
            .map_err(e)?;
        out.extend(rows.iter().map(rp_row));
    }
    Ok(out)
}

pub async fn all_providers(db: &Db) -> DbResult<Vec<ProviderRow>> {
    let rows = sqlx::query(RP_SELECT).fetch_all(db.reader()).await.map_err(e)?;
    Ok(rows.iter().map(rp_row).collect())
}

pub async fn insert_provider(
    tx: &mut AnyConnection,
    uuid: &str,
    name: &str,
    parent: Option<&ProviderRow>,
) -> DbResult<i64> {
    let ts = now();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO placement_resource_providers (uuid, name, generation, parent_provider_id, root_provider_id, \
         created_at, updated_at) VALUES ($1, $2, 0, $3, $4, $5, $5) RETURNING id",
    )
    .bind(uuid)
    .bind(name)
    .bind(parent.map(|p| p.id))
    .bind(parent.map(|p| p.root_id))
    .bind(&ts)
    .fetch_one(&mut *tx)
    .await
    .map_err(e)?;
    if parent.is_none() {
        sqlx::query("UPDATE placement_resource_providers SET root_provider_id = $1 WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(e)?;
    }
    Ok(id)
}

pub async fn update_provider(
    tx: &mut AnyConnection,
    id: i64,
    name: &str,
    parent_id: Option<i64>,
    root_id: i64,
) -> DbResult<()> {
    sqlx::query(
        "UPDATE placement_resource_providers SET name = $1, parent_provider_id = $2, root_provider_id = $3, \
         updated_at = $4 WHERE id = $5",
    )
    .bind(name)
    .bind(parent_id)
    .bind(root_id)
    .bind(now())
    .bind(id)
    .execute(&mut *tx)
    .await
    .map_err(e)?;
    Ok(())
}

pub async fn set_root(tx: &mut AnyConnection, ids: &[i64], root_id: i64) -> DbResult<()> {
    for chunk in ids.chunks(500) {
        let list: Vec<String> = chunk.iter().map(|i| i.to_string()).collect();
        sqlx::query(&format!(
            "UPDATE placement_resource_providers SET root_provider_id = $1 WHERE id IN ({})",
            list.join(",")
        ))
        .bind(root_id)
        .execute(&mut *tx)
        .await
        .map_err(e)?;
    }
    Ok(())
}

/// Ids of every provider in the subtree under `id` (itself included).
pub async fn subtree(tx: &mut AnyConnection, id: i64, root_id: i64) -> DbResult<Vec<i64>> {
    let rows =
        sqlx::query("SELECT id, parent_provider_id FROM placement_resource_providers WHERE root_provider_id = $1")
            .bind(root_id)
            .fetch_all(&mut *tx)
            .await
            .map_err(e)?;
    let mut children: HashMap<i64, Vec<i64>> = HashMap::new();
    for r in &rows {
        if let Some(p) = get_oi(r, "parent_provider_id") {
            children.entry(p).or_default().push(get_i(r, "id"));
        }
    }
    let mut out = vec![id];
    let mut i = 0;
    while i < out.len() {
        if let Some(c) = children.get(&out[i]) {
            out.extend(c);
        }
        i += 1;
    }
    Ok(out)
}

pub async fn has_children(tx: &mut AnyConnection, id: i64) -> DbResult<bool> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM placement_resource_providers WHERE parent_provider_id = $1")
        .bind(id)
        .fetch_one(&mut *tx)
        .await
        .map_err(e)?;
    Ok(n > 0)
}

pub async fn has_allocations(tx: &mut AnyConnection, id: i64) -> DbResult<bool> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM placement_allocations WHERE resource_provider_id = $1")
        .bind(id)
        .fetch_one(&mut *tx)
        .await
        .map_err(e)?;
    Ok(n > 0)
}

pub async fn delete_provider(tx: &mut AnyConnection, id: i64) -> DbResult<()> {
    for sql in [
        "DELETE FROM placement_inventories WHERE resource_provider_id = $1",
        "DELETE FROM placement_provider_aggregates WHERE resource_provider_id = $1",
        "DELETE FROM placement_provider_traits WHERE resource_provider_id = $1",
        "DELETE FROM placement_resource_providers WHERE id = $1",
    ] {
        sqlx::query(sql).bind(id).execute(&mut *tx).await.map_err(e)?;
    }
    Ok(())
}

/// Bumps a provider's generation if it is still `seen`; false when another
/// writer got there first.
pub async fn increment_generation(tx: &mut AnyConnection, id: i64, seen: i64) -> DbResult<bool> {
    let r = sqlx::query(
        "UPDATE placement_resource_providers SET generation = generation + 1, updated_at = $1 \
         WHERE id = $2 AND generation = $3",
    )
    .bind(now())
    .bind(id)
    .bind(seen)
    .execute(&mut *tx)
    .await
    .map_err(e)?;
    Ok(r.rows_affected() == 1)
}

// ---------- inventories ----------

fn inv_row(r: &AnyRow) -> InventoryRow {
    InventoryRow {
        resource_provider_id: get_i(r, "resource_provider_id"),
        resource_class_id: get_i(r, "resource_class_id"),
        total: get_i(r, "total"),
        reserved: get_i(r, "reserved"),
        min_unit: get_i(r, "min_unit"),
        max_unit: get_i(r, "max_unit"),
        step_size: get_i(r, "step_size"),
        allocation_ratio: r.try_get::<f64, _>("allocation_ratio").unwrap_or(1.0),
        updated_at: get_s(r, "updated_at"),
    }
}

const INV_COLS: &str =
    "resource_provider_id, resource_class_id, total, reserved, min_unit, max_unit, step_size, allocation_ratio, updated_at";

pub async fn inventories(conn: &mut AnyConnection, rp_id: i64) -> DbResult<Vec<InventoryRow>> {
    let rows = sqlx::query(&format!(
        "SELECT {INV_COLS} FROM placement_inventories WHERE resource_provider_id = $1 ORDER BY resource_class_id"
    ))
    .bind(rp_id)
    .fetch_all(&mut *conn)
    .await
    .map_err(e)?;
    Ok(rows.iter().map(inv_row).collect())
}

pub async fn inventories_ro(db: &Db, rp_id: i64) -> DbResult<Vec<InventoryRow>> {
    let mut conn = db.reader().acquire().await.map_err(e)?;
    inventories(&mut conn, rp_id).await
}

/// Replaces a provider's inventories of the given classes (others are left alone).
pub async fn upsert_inventory(tx: &mut AnyConnection, rp_id: i64, inv: &InventoryRow) -> DbResult<()> {
    let ts = now();
    sqlx::query(
        "INSERT INTO placement_inventories (resource_provider_id, resource_class_id, total, reserved, min_unit, \
         max_unit, step_size, allocation_ratio, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) \
         ON CONFLICT (resource_provider_id, resource_class_id) DO UPDATE SET total = excluded.total, \
         reserved = excluded.reserved, min_unit = excluded.min_unit, max_unit = excluded.max_unit, \
         step_size = excluded.step_size, allocation_ratio = excluded.allocation_ratio, updated_at = excluded.updated_at",
    )
    .bind(rp_id)
    .bind(inv.resource_class_id)
    .bind(inv.total)
    .bind(inv.reserved)
    .bind(inv.min_unit)
    .bind(inv.max_unit)
    .bind(inv.step_size)
    .bind(inv.allocation_ratio)
    .bind(&ts)
    .execute(&mut *tx)
    .await
    .map_err(e)?;
    Ok(())
}

pub async fn delete_inventory(tx: &mut AnyConnection, rp_id: i64, rc_id: i64) -> DbResult<()> {
    sqlx::query("DELETE FROM placement_inventories WHERE resource_provider_id = $1 AND resource_class_id = $2")
        .bind(rp_id)
        .bind(rc_id)
        .execute(&mut *tx)
        .await
        .map_err(e)?;
    Ok(())
}

/// Resource classes of `rc_ids` that have allocations on the provider.
pub async fn classes_in_use(tx: &mut AnyConnection, rp_id: i64, rc_ids: &[i64]) -> DbResult<Vec<i64>> {
    if rc_ids.is_empty() {
        return Ok(Vec::new());
    }
    let list: Vec<String> = rc_ids.iter().map(|i| i.to_string()).collect();
    sqlx::query_scalar(&format!(
        "SELECT DISTINCT resource_class_id FROM placement_allocations WHERE resource_provider_id = $1 \
         AND resource_class_id IN ({}) ORDER BY resource_class_id",
        list.join(",")
    ))
    .bind(rp_id)
    .fetch_all(&mut *tx)
    .await
    .map_err(e)
}

/// Usage per resource class on one provider.
pub async fn usages(conn: &mut AnyConnection, rp_id: i64) -> DbResult<BTreeMap<i64, i64>> {
    let rows = sqlx::query(
        "SELECT resource_class_id, CAST(SUM(used) AS BIGINT) AS used FROM placement_allocations WHERE resource_provider_id = $1 \
         GROUP BY resource_class_id",
    )
    .bind(rp_id)
    .fetch_all(&mut *conn)
    .await
    .map_err(e)?;
    Ok(rows.iter().map(|r| (get_i(r, "resource_class_id"), get_i(r, "used"))).collect())
}

// ---------- snapshot loading ----------

fn id_list(ids: Option<&[i64]>, col: &str) -> String {
    match ids {
        None => String::new(),
        Some(ids) => {
            let list: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
            format!(" WHERE {col} IN ({})", list.join(","))
        }
    }
}

/// Inventories, usages, traits and aggregates of some providers (all when `ids` is None).
pub async fn provider_details(db: &Db, ids: Option<&[i64]>) -> DbResult<ProviderDetails> {
    let mut d = ProviderDetails::default();
    let chunks: Vec<Option<&[i64]>> = match ids {
        None => vec![None],
        Some(ids) => ids.chunks(500).map(Some).collect(),
    };
    for chunk in chunks {
        let w = id_list(chunk, "resource_provider_id");
        for r in sqlx::query(&format!("SELECT {INV_COLS} FROM placement_inventories{w}"))
            .fetch_all(db.reader())
            .await
            .map_err(e)?
        {
            let inv = inv_row(&r);
            d.inventories.entry(inv.resource_provider_id).or_default().push(inv);
        }
        for r in sqlx::query(&format!(
            "SELECT resource_provider_id, resource_class_id, CAST(SUM(used) AS BIGINT) AS used FROM placement_allocations{w} \
             GROUP BY resource_provider_id, resource_class_id"
        ))
        .fetch_all(db.reader())
        .await
        .map_err(e)?
        {
            d.usages.insert((get_i(&r, "resource_provider_id"), get_i(&r, "resource_class_id")), get_i(&r, "used"));
        }
        for r in sqlx::query(&format!("SELECT resource_provider_id, trait_id FROM placement_provider_traits{w}"))
            .fetch_all(db.reader())
            .await
            .map_err(e)?
        {
            d.traits.entry(get_i(&r, "resource_provider_id")).or_default().push(get_i(&r, "trait_id"));
        }
        for r in
            sqlx::query(&format!("SELECT resource_provider_id, aggregate_uuid FROM placement_provider_aggregates{w}"))
                .fetch_all(db.reader())
                .await
                .map_err(e)?
        {
            d.aggregates.entry(get_i(&r, "resource_provider_id")).or_default().push(get_s(&r, "aggregate_uuid"));
        }
    }
    Ok(d)
}

// ---------- resource classes ----------

// ---------- the names version ----------
//
// Row 2 of `placement_state` counts changes to custom resource classes and
// traits (create, rename, delete), so that every controller can tell when
// its name caches are stale.

const NAMES_ROW: i64 = 2;

/// Makes sure the names version row exists (databases made before it).
pub async fn ensure_names_row(db: &Db) -> DbResult<()> {
    sqlx::query("INSERT INTO placement_state (id, seq, pruned_below) VALUES ($1, 0, 0) ON CONFLICT (id) DO NOTHING")
        .bind(NAMES_ROW)
        .execute(db.writer())
        .await
        .map_err(e)?;
    Ok(())
}

pub async fn names_version(db: &Db) -> DbResult<i64> {
    let v: Option<i64> = sqlx::query_scalar("SELECT seq FROM placement_state WHERE id = $1")
        .bind(NAMES_ROW)
        .fetch_optional(db.reader())
        .await
        .map_err(e)?;
    Ok(v.unwrap_or(0))
}

async fn bump_names(conn: &mut AnyConnection) -> DbResult<()> {
    sqlx::query("UPDATE placement_state SET seq = seq + 1 WHERE id = $1")
        .bind(NAMES_ROW)
        .execute(&mut *conn)
        .await
        .map_err(e)?;
    Ok(())
}

pub async fn custom_classes(db: &Db) -> DbResult<Vec<(i64, String, String)>> {
    let rows = sqlx::query("SELECT id, name, updated_at FROM placement_resource_classes ORDER BY id")
        .fetch_all(db.reader())
        .await
        .map_err(e)?;
    Ok(rows.iter().map(|r| (get_i(r, "id"), get_s(r, "name"), get_s(r, "updated_at"))).collect())
}

pub async fn insert_class(db: &Db, name: &str) -> DbResult<i64> {
    let ts = now();
    let mut tx = begin(db).await?;
    let id = sqlx::query_scalar(
        "INSERT INTO placement_resource_classes (name, created_at, updated_at) VALUES ($1, $2, $2) RETURNING id",
    )
    .bind(name)
    .bind(&ts)
    .fetch_one(&mut *tx)
    .await
    .map_err(e)?;
    bump_names(&mut tx).await?;
    tx.commit().await.map_err(e)?;
    Ok(id)
}

pub async fn rename_class(db: &Db, id: i64, name: &str) -> DbResult<()> {
    let mut tx = begin(db).await?;
    sqlx::query("UPDATE placement_resource_classes SET name = $1, updated_at = $2 WHERE id = $3")
        .bind(name)
        .bind(now())
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(e)?;
    bump_names(&mut tx).await?;
    tx.commit().await.map_err(e)?;
    Ok(())
}

/// Deletes a custom class unless inventories or allocations use it.
pub async fn delete_class(db: &Db, id: i64) -> DbResult<bool> {
    let mut tx = begin(db).await?;
    let n: i64 = sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM placement_inventories WHERE resource_class_id = $1) + \
         (SELECT COUNT(*) FROM placement_allocations WHERE resource_class_id = $1)",
    )
    .bind(id)
    .fetch_one(&mut *tx)
    .await
    .map_err(e)?;
    if n > 0 {
        return Ok(false);
    }
    sqlx::query("DELETE FROM placement_resource_classes WHERE id = $1").bind(id).execute(&mut *tx).await.map_err(e)?;
    bump_names(&mut tx).await?;
    tx.commit().await.map_err(e)?;
    Ok(true)
}

// ---------- traits ----------

pub async fn all_traits(db: &Db) -> DbResult<Vec<(i64, String)>> {
    let rows =
        sqlx::query("SELECT id, name FROM placement_traits ORDER BY name").fetch_all(db.reader()).await.map_err(e)?;
    Ok(rows.iter().map(|r| (get_i(r, "id"), get_s(r, "name"))).collect())
}

pub async fn associated_trait_ids(db: &Db) -> DbResult<Vec<i64>> {
    sqlx::query_scalar("SELECT DISTINCT trait_id FROM placement_provider_traits")
        .fetch_all(db.reader())
        .await
        .map_err(e)
}

/// Adds the traits that are missing (standard traits at start-up).
pub async fn ensure_traits(db: &Db, names: &[&str]) -> DbResult<()> {
    let existing: std::collections::HashSet<String> = all_traits(db).await?.into_iter().map(|(_, n)| n).collect();
    let missing: Vec<&&str> = names.iter().filter(|n| !existing.contains(**n)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let ts = now();
    let mut tx = begin(db).await?;
    for chunk in missing.chunks(200) {
        let values: Vec<String> = chunk.iter().map(|n| format!("('{n}', '{ts}')")).collect();
        sqlx::query(&format!(
            "INSERT INTO placement_traits (name, created_at) VALUES {} ON CONFLICT (name) DO NOTHING",
            values.join(",")
        ))
        .execute(&mut *tx)
        .await
        .map_err(e)?;
    }
    bump_names(&mut tx).await?;
    tx.commit().await.map_err(e)
}

/// Creates a trait; false when it already exists.
pub async fn insert_trait(db: &Db, name: &str) -> DbResult<bool> {
    let mut tx = begin(db).await?;
    let r =
        sqlx::query("INSERT INTO placement_traits (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .bind(now())
            .execute(&mut *tx)
            .await
            .map_err(e)?;
    let created = r.rows_affected() == 1;
    if created {
        bump_names(&mut tx).await?;
    }
    tx.commit().await.map_err(e)?;
    Ok(created)
}

pub async fn trait_created_at(db: &Db, name: &str) -> DbResult<Option<String>> {
    sqlx::query_scalar("SELECT created_at FROM placement_traits WHERE name = $1")
        .bind(name)
        .fetch_optional(db.reader())
        .await
        .map_err(e)
}

/// Deletes a trait unless a provider has it. None when it does not exist.
pub async fn delete_trait(db: &Db, name: &str) -> DbResult<Option<bool>> {
    let mut tx = begin(db).await?;
    let id: Option<i64> = sqlx::query_scalar("SELECT id FROM placement_traits WHERE name = $1")
        .bind(name)
        .fetch_optional(&mut *tx)
        .await
        .map_err(e)?;
    let Some(id) = id else { return Ok(None) };
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM placement_provider_traits WHERE trait_id = $1")
        .bind(id)
        .fetch_one(&mut *tx)
        .await
        .map_err(e)?;
    if n > 0 {
        return Ok(Some(false));
    }
    sqlx::query("DELETE FROM placement_traits WHERE id = $1").bind(id).execute(&mut *tx).await.map_err(e)?;
    bump_names(&mut tx).await?;
    tx.commit().await.map_err(e)?;
    Ok(Some(true))
}

pub async fn provider_traits(conn: &mut AnyConnection, rp_id: i64) -> DbResult<Vec<String>> {
    sqlx::query_scalar(
        "SELECT t.name FROM placement_provider_traits pt JOIN placement_traits t ON t.id = pt.trait_id \
         WHERE pt.resource_provider_id = $1 ORDER BY t.name",
    )
    .bind(rp_id)
    .fetch_all(&mut *conn)
    .await
    .map_err(e)
}

pub async fn set_provider_traits(tx: &mut AnyConnection, rp_id: i64, trait_ids: &[i64]) -> DbResult<()> {
    sqlx::query("DELETE FROM placement_provider_traits WHERE resource_provider_id = $1")
        .bind(rp_id)
        .execute(&mut *tx)
        .await
        .map_err(e)?;
    for t in trait_ids {
        sqlx::query("INSERT INTO placement_provider_traits (resource_provider_id, trait_id) VALUES ($1, $2)")
            .bind(rp_id)
            .bind(t)
            .execute(&mut *tx)
            .await
            .map_err(e)?;
    }
    Ok(())
}

// ---------- aggregates ----------

pub async fn provider_aggregates(conn: &mut AnyConnection, rp_id: i64) -> DbResult<Vec<String>> {
    sqlx::query_scalar(
        "SELECT aggregate_uuid FROM placement_provider_aggregates WHERE resource_provider_id = $1 ORDER BY aggregate_uuid",
    )
    .bind(rp_id)
    .fetch_all(&mut *conn)
    .await
    .map_err(e)
}

pub async fn set_provider_aggregates(tx: &mut AnyConnection, rp_id: i64, aggs: &[String]) -> DbResult<()> {
    sqlx::query("DELETE FROM placement_provider_aggregates WHERE resource_provider_id = $1")
        .bind(rp_id)
        .execute(&mut *tx)
        .await
        .map_err(e)?;
    for a in aggs {
        sqlx::query("INSERT INTO placement_provider_aggregates (resource_provider_id, aggregate_uuid) VALUES ($1, $2)")
            .bind(rp_id)
            .bind(a)
            .execute(&mut *tx)
            .await
            .map_err(e)?;
    }
    Ok(())
}

// ---------- consumers and allocations ----------

fn consumer_row(r: &AnyRow) -> ConsumerRow {
    ConsumerRow {
        id: get_i(r, "id"),
        uuid: get_s(r, "uuid"),
        project_id: get_s(r, "project_id"),
        user_id: get_s(r, "user_id"),
        generation: get_i(r, "generation"),
        consumer_type_id: get_oi(r, "consumer_type_id"),
        updated_at: get_s(r, "updated_at"),
    }
}

pub async fn get_consumer(conn: &mut AnyConnection, uuid: &str) -> DbResult<Option<ConsumerRow>> {
    let r = sqlx::query(
        "SELECT id, uuid, project_id, user_id, generation, consumer_type_id, updated_at FROM placement_consumers \
         WHERE uuid = $1",
    )
    .bind(uuid)
    .fetch_optional(&mut *conn)
    .await
    .map_err(e)?;
    Ok(r.as_ref().map(consumer_row))
}

pub async fn insert_consumer(
    tx: &mut AnyConnection,
    uuid: &str,
    project_id: &str,
    user_id: &str,
    consumer_type_id: Option<i64>,
    generation: i64,
) -> DbResult<ConsumerRow> {
    let ts = now();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO placement_consumers (uuid, project_id, user_id, generation, consumer_type_id, created_at, \
         updated_at) VALUES ($1, $2, $3, $6, $4, $5, $5) RETURNING id",
    )
    .bind(uuid)
    .bind(project_id)
    .bind(user_id)
    .bind(consumer_type_id)
    .bind(&ts)
    .bind(generation)
    .fetch_one(&mut *tx)
    .await
    .map_err(e)?;
    Ok(ConsumerRow {
        id,
        uuid: uuid.into(),
        project_id: project_id.into(),
        user_id: user_id.into(),
        generation,
        consumer_type_id,
        updated_at: ts,
    })
}

/// Deletes those of `uuids` that hold no allocations.
pub async fn delete_consumers_without_allocations(tx: &mut AnyConnection, uuids: &[String]) -> DbResult<()> {
    for u in uuids {
        sqlx::query(
            "DELETE FROM placement_consumers WHERE uuid = $1 AND NOT EXISTS \
             (SELECT 1 FROM placement_allocations WHERE consumer_id = $1)",
        )
        .bind(u)
        .execute(&mut *tx)
        .await
        .map_err(e)?;
    }
    Ok(())
}

pub async fn consumer_type_id(conn: &mut AnyConnection, name: &str) -> DbResult<Option<i64>> {
    sqlx::query_scalar("SELECT id FROM placement_consumer_types WHERE name = $1")
        .bind(name)
        .fetch_optional(&mut *conn)
        .await
        .map_err(e)
}

pub async fn ensure_consumer_type(tx: &mut AnyConnection, name: &str) -> DbResult<i64> {
    if let Some(id) = consumer_type_id(tx, name).await? {
        return Ok(id);
    }
    sqlx::query_scalar("INSERT INTO placement_consumer_types (name, created_at) VALUES ($1, $2) RETURNING id")
        .bind(name)
        .bind(now())
        .fetch_one(&mut *tx)
        .await
        .map_err(e)
}

pub async fn consumer_type_name(conn: &mut AnyConnection, id: i64) -> DbResult<Option<String>> {
    sqlx::query_scalar("SELECT name FROM placement_consumer_types WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(e)
}

/// (provider id, provider uuid, provider generation, class id, used) of a consumer.
pub async fn consumer_allocations(conn: &mut AnyConnection, consumer: &str) -> DbResult<Vec<AllocationRow>> {
    let rows = sqlx::query(
        "SELECT a.resource_provider_id, rp.uuid, rp.generation, a.resource_class_id, a.used, a.updated_at \
         FROM placement_allocations a JOIN placement_resource_providers rp ON rp.id = a.resource_provider_id \
         WHERE a.consumer_id = $1 ORDER BY a.id",
    )
    .bind(consumer)
    .fetch_all(&mut *conn)
    .await
    .map_err(e)?;
    Ok(rows
        .iter()
        .map(|r| AllocationRow {
            resource_provider_id: get_i(r, "resource_provider_id"),
            resource_provider_uuid: get_s(r, "uuid"),
            resource_provider_generation: get_i(r, "generation"),
            consumer_uuid: consumer.to_string(),
            consumer_generation: None,
            resource_class_id: get_i(r, "resource_class_id"),
            used: get_i(r, "used"),
            updated_at: get_s(r, "updated_at"),
        })
        .collect())
}

pub async fn provider_allocations(db: &Db, rp_id: i64) -> DbResult<Vec<AllocationRow>> {
    let rows = sqlx::query(
        "SELECT a.consumer_id, c.generation, a.resource_class_id, a.used, a.updated_at FROM placement_allocations a \
         LEFT JOIN placement_consumers c ON c.uuid = a.consumer_id WHERE a.resource_provider_id = $1 ORDER BY a.id",
    )
    .bind(rp_id)
    .fetch_all(db.reader())
    .await
    .map_err(e)?;
    Ok(rows
        .iter()
        .map(|r| AllocationRow {
            resource_provider_id: rp_id,
            resource_provider_uuid: String::new(),
            resource_provider_generation: 0,
            consumer_uuid: get_s(r, "consumer_id"),
            consumer_generation: get_oi(r, "generation"),
            resource_class_id: get_i(r, "resource_class_id"),
            used: get_i(r, "used"),
            updated_at: get_s(r, "updated_at"),
        })
        .collect())
}

/// Deletes a consumer's allocations; returns what they were:
/// (provider id, class id, used).
pub async fn delete_consumer_allocations(tx: &mut AnyConnection, consumer: &str) -> DbResult<Vec<(i64, i64, i64)>> {
    let rows = sqlx::query(
        "DELETE FROM placement_allocations WHERE consumer_id = $1 \
         RETURNING resource_provider_id, resource_class_id, used",
    )
    .bind(consumer)
    .fetch_all(&mut *tx)
    .await
    .map_err(e)?;
    Ok(rows
        .iter()
        .map(|r| (get_i(r, "resource_provider_id"), get_i(r, "resource_class_id"), get_i(r, "used")))
        .collect())
}

/// Inserts allocations (provider id, consumer uuid, class id, used) in few statements.
pub async fn insert_allocations(tx: &mut AnyConnection, rows: &[(i64, &str, i64, i64)]) -> DbResult<()> {
    let ts = now();
    for chunk in rows.chunks(100) {
        let mut s = Script::default();
        s.insert_allocations(chunk, &ts);
        s.execute(tx).await?;
    }
    Ok(())
}

/// A provider's inventories, each with the sum of its allocations.
pub async fn inventories_with_usage(conn: &mut AnyConnection, rp_id: i64) -> DbResult<Vec<(InventoryRow, i64)>> {
    let rows = sqlx::query(
        "SELECT i.resource_provider_id, i.resource_class_id, i.total, i.reserved, i.min_unit, i.max_unit, \
         i.step_size, i.allocation_ratio, i.updated_at, CAST(COALESCE((SELECT SUM(a.used) FROM placement_allocations a \
         WHERE a.resource_provider_id = i.resource_provider_id AND a.resource_class_id = i.resource_class_id), 0) \
         AS BIGINT) AS used FROM placement_inventories i WHERE i.resource_provider_id = $1 ORDER BY i.resource_class_id",
    )
    .bind(rp_id)
    .fetch_all(&mut *conn)
    .await
    .map_err(e)?;
    Ok(rows.iter().map(|r| (inv_row(r), get_i(r, "used"))).collect())
}

pub async fn insert_allocation(tx: &mut AnyConnection, rp_id: i64, consumer: &str, rc: i64, used: i64) -> DbResult<()> {
    let ts = now();
    sqlx::query(
        "INSERT INTO placement_allocations (resource_provider_id, consumer_id, resource_class_id, used, created_at, \
         updated_at) VALUES ($1, $2, $3, $4, $5, $5)",
    )
    .bind(rp_id)
    .bind(consumer)
    .bind(rc)
    .bind(used)
    .bind(&ts)
    .execute(&mut *tx)
    .await
    .map_err(e)?;
    Ok(())
}

/// Usage sums by class for a project (and user), optionally per consumer type:
/// (consumer type name or None, class id, used, consumer count).
pub async fn total_usages(
    db: &Db,
    project_id: &str,
    user_id: Option<&str>,
) -> DbResult<Vec<(Option<String>, i64, i64, i64)>> {
    let mut sql = String::from(
        "SELECT ct.name AS ctype, a.resource_class_id, CAST(SUM(a.used) AS BIGINT) AS used, COUNT(DISTINCT c.id) AS consumers \
         FROM placement_allocations a JOIN placement_consumers c ON c.uuid = a.consumer_id \
         LEFT JOIN placement_consumer_types ct ON ct.id = c.consumer_type_id WHERE c.project_id = $1",
    );
    if user_id.is_some() {
        sql.push_str(" AND c.user_id = $2");
    }
    sql.push_str(" GROUP BY ct.name, a.resource_class_id");
    let mut q = sqlx::query(&sql).bind(project_id);
    if let Some(u) = user_id {
        q = q.bind(u);
    }
    let rows = q.fetch_all(db.reader()).await.map_err(e)?;
    Ok(rows
        .iter()
        .map(|r| (get_os(r, "ctype"), get_i(r, "resource_class_id"), get_i(r, "used"), get_i(r, "consumers")))
        .collect())
}

/// Consumers per type for a project (and user), for `consumer_count`.
pub async fn consumer_counts(db: &Db, project_id: &str, user_id: Option<&str>) -> DbResult<Vec<(Option<String>, i64)>> {
    let mut sql = String::from(
        "SELECT ct.name AS ctype, COUNT(DISTINCT c.id) AS n FROM placement_consumers c \
         JOIN placement_allocations a ON a.consumer_id = c.uuid \
         LEFT JOIN placement_consumer_types ct ON ct.id = c.consumer_type_id WHERE c.project_id = $1",
    );
    if user_id.is_some() {
        sql.push_str(" AND c.user_id = $2");
    }
    sql.push_str(" GROUP BY ct.name");
    let mut q = sqlx::query(&sql).bind(project_id);
    if let Some(u) = user_id {
        q = q.bind(u);
    }
    let rows = q.fetch_all(db.reader()).await.map_err(e)?;
    Ok(rows.iter().map(|r| (get_os(r, "ctype"), get_i(r, "n"))).collect())
}

// ---------- batched allocation writes ----------

/// `$from, $from+1, ...` for `n` bound values.
fn placeholders(from: usize, n: usize) -> String {
    (from..from + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

pub async fn consumers_by_uuids(tx: &mut AnyConnection, uuids: &[String]) -> DbResult<Vec<ConsumerRow>> {
    let mut out = Vec::with_capacity(uuids.len());
    for chunk in uuids.chunks(500) {
        let sql = format!(
            "SELECT id, uuid, project_id, user_id, generation, consumer_type_id, updated_at FROM placement_consumers \
             WHERE uuid IN ({})",
            placeholders(1, chunk.len())
        );
        let mut q = sqlx::query(&sql);
        for u in chunk {
            q = q.bind(u);
        }
        out.extend(q.fetch_all(&mut *tx).await.map_err(e)?.iter().map(consumer_row));
    }
    Ok(out)
}

/// Providers by uuid with their inventories, each with the sum of its
/// allocations, in one query.
pub async fn providers_with_inventories(
    tx: &mut AnyConnection,
    uuids: &[String],
) -> DbResult<(Vec<ProviderRow>, Vec<(InventoryRow, i64)>)> {
    let mut providers: BTreeMap<i64, ProviderRow> = BTreeMap::new();
    let mut inventories = Vec::new();
    for chunk in uuids.chunks(500) {
        let sql = format!(
            "SELECT rp.id, rp.uuid, rp.name, rp.generation, rp.parent_provider_id, rp.root_provider_id, \
             p.uuid AS parent_uuid, r.uuid AS root_uuid, rp.created_at, rp.updated_at, \
             i.resource_class_id AS inv_class, i.total AS inv_total, i.reserved AS inv_reserved, \
             i.min_unit AS inv_min_unit, i.max_unit AS inv_max_unit, i.step_size AS inv_step_size, \
             i.allocation_ratio AS inv_allocation_ratio, i.updated_at AS inv_updated_at, \
             CAST(COALESCE((SELECT SUM(a.used) FROM placement_allocations a WHERE a.resource_provider_id = rp.id \
             AND a.resource_class_id = i.resource_class_id), 0) AS BIGINT) AS inv_used \
             FROM placement_resource_providers rp \
             LEFT JOIN placement_resource_providers p ON p.id = rp.parent_provider_id \
             LEFT JOIN placement_resource_providers r ON r.id = rp.root_provider_id \
             LEFT JOIN placement_inventories i ON i.resource_provider_id = rp.id \
             WHERE rp.uuid IN ({}) ORDER BY rp.id, i.resource_class_id",
            placeholders(1, chunk.len())
        );
        let mut q = sqlx::query(&sql);
        for u in chunk {
            q = q.bind(u);
        }
        for r in q.fetch_all(&mut *tx).await.map_err(e)? {
            let rp = rp_row(&r);
            if let Some(class) = get_oi(&r, "inv_class") {
                let inv = InventoryRow {
                    resource_provider_id: rp.id,
                    resource_class_id: class,
                    total: get_i(&r, "inv_total"),
                    reserved: get_i(&r, "inv_reserved"),
                    min_unit: get_i(&r, "inv_min_unit"),
                    max_unit: get_i(&r, "inv_max_unit"),
                    step_size: get_i(&r, "inv_step_size"),
                    allocation_ratio: r.try_get::<f64, _>("inv_allocation_ratio").unwrap_or(1.0),
                    updated_at: get_s(&r, "inv_updated_at"),
                };
                inventories.push((inv, get_i(&r, "inv_used")));
            }
            providers.entry(rp.id).or_insert(rp);
        }
    }
    Ok((providers.into_values().collect(), inventories))
}

/// The allocations of several consumers: (consumer uuid, provider id, class id, used).
pub async fn allocations_of_consumers(
    tx: &mut AnyConnection,
    uuids: &[String],
) -> DbResult<Vec<(String, i64, i64, i64)>> {
    let mut out = Vec::new();
    for chunk in uuids.chunks(500) {
        let sql = format!(
            "SELECT consumer_id, resource_provider_id, resource_class_id, used FROM placement_allocations \
             WHERE consumer_id IN ({})",
            placeholders(1, chunk.len())
        );
        let mut q = sqlx::query(&sql);
        for u in chunk {
            q = q.bind(u);
        }
        out.extend(q.fetch_all(&mut *tx).await.map_err(e)?.iter().map(|r| {
            (get_s(r, "consumer_id"), get_i(r, "resource_provider_id"), get_i(r, "resource_class_id"), get_i(r, "used"))
        }));
    }
    Ok(out)
}

pub async fn delete_allocations_of_consumers(tx: &mut AnyConnection, uuids: &[String]) -> DbResult<()> {
    for chunk in uuids.chunks(500) {
        let sql = format!("DELETE FROM placement_allocations WHERE consumer_id IN ({})", placeholders(1, chunk.len()));
        let mut q = sqlx::query(&sql);
        for u in chunk {
            q = q.bind(u);
        }
        q.execute(&mut *tx).await.map_err(e)?;
    }
    Ok(())
}

/// Inserts consumers (uuid, project, user, type, generation) in few statements.
pub async fn insert_consumers(tx: &mut AnyConnection, rows: &[&ConsumerRow]) -> DbResult<()> {
    let ts = now();
    for chunk in rows.chunks(100) {
        let mut s = Script::default();
        s.insert_consumers(chunk, &ts);
        s.execute(tx).await?;
    }
    Ok(())
}

/// Writes a consumer's project, user, type and generation if its generation
/// is still `seen`; false when another writer changed it first.
pub async fn set_consumer(tx: &mut AnyConnection, c: &ConsumerRow, seen: i64) -> DbResult<bool> {
    let r = sqlx::query(
        "UPDATE placement_consumers SET project_id = $1, user_id = $2, consumer_type_id = $3, generation = $4, \
         updated_at = $5 WHERE id = $6 AND generation = $7",
    )
    .bind(&c.project_id)
    .bind(&c.user_id)
    .bind(c.consumer_type_id)
    .bind(c.generation)
    .bind(now())
    .bind(c.id)
    .bind(seen)
    .execute(&mut *tx)
    .await
    .map_err(e)?;
    Ok(r.rows_affected() == 1)
}

/// Sets provider generations (id, seen, new) in few statements; false unless
/// every provider still had its `seen` generation.
pub async fn set_provider_generations(tx: &mut AnyConnection, changes: &[(i64, i64, i64)]) -> DbResult<bool> {
    let ts = now();
    for chunk in changes.chunks(200) {
        let mut s = Script::default();
        s.set_provider_generations(chunk, &ts);
        if s.execute(tx).await? != chunk.len() as u64 {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Writes the rest of a batch of claims: new consumers, the allocations of
/// every changed consumer and the provider generations (id, seen, new). On
/// SQLite a small batch goes in one call (one trip to the database thread
/// instead of three). False when a provider's generation was no longer `seen`.
pub async fn write_claims(
    tx: &mut AnyConnection,
    one_call: bool,
    consumers: &[&ConsumerRow],
    allocations: &[(i64, &str, i64, i64)],
    generations: &[(i64, i64, i64)],
) -> DbResult<bool> {
    if one_call && consumers.len() <= 100 && allocations.len() <= 100 && generations.len() <= 200 {
        let ts = now();
        let mut s = Script::default();
        s.insert_consumers(consumers, &ts);
        s.insert_allocations(allocations, &ts);
        s.set_provider_generations(generations, &ts);
        // Rows the statements themselves changed; trigger writes do not count.
        let expected = consumers.len() + allocations.len() + generations.len();
        return Ok(s.execute(tx).await? == expected as u64);
    }
    insert_consumers(tx, consumers).await?;
    insert_allocations(tx, allocations).await?;
    set_provider_generations(tx, generations).await
}

enum Arg {
    Int(i64),
    OptInt(Option<i64>),
    Text(String),
}

/// Statements and their bound values, numbered `$1...` across all of them
/// (SQLite runs several statements of one text in one call; PostgreSQL
/// takes one statement at a time).
#[derive(Default)]
struct Script {
    sql: String,
    args: Vec<Arg>,
}

impl Script {
    fn bind(&mut self, a: Arg) -> String {
        self.args.push(a);
        format!("${}", self.args.len())
    }

    fn statement(&mut self, head: &str) {
        if !self.sql.is_empty() {
            self.sql.push_str("; ");
        }
        self.sql.push_str(head);
    }

    fn insert_consumers(&mut self, rows: &[&ConsumerRow], ts: &str) {
        if rows.is_empty() {
            return;
        }
        self.statement(
            "INSERT INTO placement_consumers (uuid, project_id, user_id, consumer_type_id, generation, created_at, \
             updated_at) VALUES ",
        );
        let ts = self.bind(Arg::Text(ts.to_string()));
        for (i, c) in rows.iter().enumerate() {
            let v = [
                self.bind(Arg::Text(c.uuid.clone())),
                self.bind(Arg::Text(c.project_id.clone())),
                self.bind(Arg::Text(c.user_id.clone())),
                self.bind(Arg::OptInt(c.consumer_type_id)),
                self.bind(Arg::Int(c.generation)),
            ];
            let sep = if i > 0 { "," } else { "" };
            self.sql.push_str(&format!("{sep}({}, {ts}, {ts})", v.join(", ")));
        }
    }

    fn insert_allocations(&mut self, rows: &[(i64, &str, i64, i64)], ts: &str) {
        if rows.is_empty() {
            return;
        }
        self.statement(
            "INSERT INTO placement_allocations (resource_provider_id, consumer_id, resource_class_id, used, \
             created_at, updated_at) VALUES ",
        );
        let ts = self.bind(Arg::Text(ts.to_string()));
        for (i, (rp, consumer, rc, used)) in rows.iter().enumerate() {
            let v = [
                self.bind(Arg::Int(*rp)),
                self.bind(Arg::Text(consumer.to_string())),
                self.bind(Arg::Int(*rc)),
                self.bind(Arg::Int(*used)),
            ];
            let sep = if i > 0 { "," } else { "" };
            self.sql.push_str(&format!("{sep}({}, {ts}, {ts})", v.join(", ")));
        }
    }

    fn set_provider_generations(&mut self, changes: &[(i64, i64, i64)], ts: &str) {
        if changes.is_empty() {
            return;
        }
        let ts = self.bind(Arg::Text(ts.to_string()));
        let mut cases = String::new();
        let mut conds = Vec::with_capacity(changes.len());
        for (id, seen, new) in changes {
            let (id, seen, new) = (self.bind(Arg::Int(*id)), self.bind(Arg::Int(*seen)), self.bind(Arg::Int(*new)));
            cases.push_str(&format!(" WHEN {id} THEN {new}"));
            conds.push(format!("(id = {id} AND generation = {seen})"));
        }
        self.statement(&format!(
            "UPDATE placement_resource_providers SET generation = CASE id{cases} END, updated_at = {ts} WHERE {}",
            conds.join(" OR ")
        ));
    }

    async fn execute(&self, tx: &mut AnyConnection) -> DbResult<u64> {
        let mut q = sqlx::query(&self.sql);
        for a in &self.args {
            q = match a {
                Arg::Int(v) => q.bind(*v),
                Arg::OptInt(v) => q.bind(*v),
                Arg::Text(v) => q.bind(v.as_str()),
            };
        }
        Ok(q.execute(&mut *tx).await.map_err(e)?.rows_affected())
    }
}
