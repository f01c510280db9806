//! Every SQL statement of the Compute service; the same SQL runs on SQLite
//! and PostgreSQL.

use std::collections::BTreeMap;

use db::row::{get_i, get_oi, get_os, get_s};
use db::{sqlx, AnyRow, Db, DbError, DbResult, Row};

use crate::model::{Fault, Flavor, Instance, InstanceFlavor, Keypair, NewFlavor, Node, Service};

pub static MIGRATIONS: &[db::MigrationSet] = &[
    db::MigrationSet {
        version: 4000,
        description: "compute flavors and keypairs",
        sqlite: include_str!("../migrations/4000_initial.sqlite.sql"),
        postgres: include_str!("../migrations/4000_initial.postgres.sql"),
    },
    db::MigrationSet {
        version: 4001,
        description: "compute services, nodes and agent commands",
        sqlite: include_str!("../migrations/4001_hosts.sqlite.sql"),
        postgres: include_str!("../migrations/4001_hosts.postgres.sql"),
    },
    db::MigrationSet {
        version: 4002,
        description: "compute instances",
        sqlite: include_str!("../migrations/4002_instances.sql"),
        postgres: include_str!("../migrations/4002_instances.sql"),
    },
    db::MigrationSet {
        version: 4003,
        description: "instances each host last reported",
        sqlite: include_str!("../migrations/4003_reported.sql"),
        postgres: include_str!("../migrations/4003_reported.sql"),
    },
    db::MigrationSet {
        version: 4004,
        description: "instance sizes as columns, for quota usage in SQL",
        sqlite: include_str!("../migrations/4004_instance_sizes.sql"),
        postgres: include_str!("../migrations/4004_instance_sizes.sql"),
    },
    db::MigrationSet {
        version: 4005,
        description: "agent command sequence numbers in commit order",
        sqlite: include_str!("../migrations/4005_command_seq.sql"),
        postgres: include_str!("../migrations/4005_command_seq.sql"),
    },
    db::MigrationSet {
        version: 4006,
        description: "server actions, migrations, server groups, aggregates and quotas",
        sqlite: include_str!("../migrations/4006_actions.sqlite.sql"),
        postgres: include_str!("../migrations/4006_actions.postgres.sql"),
    },
];

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

// ---------- services, nodes, agent commands ----------

const SERVICE_COLUMNS: &str = "id, uuid, host, service_binary, agent, disabled, disabled_reason, forced_down, \
     last_seen_up, created_at, updated_at";

fn service(r: &AnyRow) -> Service {
    Service {
        id: get_i(r, "id"),
        uuid: get_s(r, "uuid"),
        host: get_s(r, "host"),
        binary: get_s(r, "service_binary"),
        agent: get_os(r, "agent"),
        disabled: get_i(r, "disabled") != 0,
        disabled_reason: get_os(r, "disabled_reason"),
        forced_down: get_i(r, "forced_down") != 0,
        last_seen_up: get_os(r, "last_seen_up"),
        created_at: get_s(r, "created_at"),
        updated_at: get_os(r, "updated_at"),
    }
}

pub async fn services(db: &Db) -> DbResult<Vec<Service>> {
    let rows = sqlx::query(&format!("SELECT {SERVICE_COLUMNS} FROM compute_services ORDER BY id"))
        .fetch_all(db.reader())
        .await
        .map_err(e)?;
    Ok(rows.iter().map(service).collect())
}

pub async fn service_by_host(db: &Db, host: &str) -> DbResult<Option<Service>> {
    let row = sqlx::query(&format!(
        "SELECT {SERVICE_COLUMNS} FROM compute_services WHERE host = $1 AND service_binary = 'nova-compute'"
    ))
    .bind(host)
    .fetch_optional(db.reader())
    .await
    .map_err(e)?;
    Ok(row.as_ref().map(service))
}

/// The `nova-compute` service of `host`, created on first report; it
/// records which agent serves it and that it was just seen.
pub async fn report_service(db: &Db, host: &str, agent: &str) -> DbResult<Service> {
    let now = now();
    sqlx::query(
        "INSERT INTO compute_services (uuid, host, service_binary, topic, agent, disabled, disabled_reason, forced_down, \
         last_seen_up, version, created_at, updated_at) VALUES ($1, $2, 'nova-compute', 'compute', $3, 0, NULL, 0, $4, 66, $4, NULL) \
         ON CONFLICT (host, service_binary) DO UPDATE SET agent = excluded.agent, last_seen_up = excluded.last_seen_up",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(host)
    .bind(agent)
    .bind(&now)
    .execute(db.writer())
    .await
    .map_err(e)?;
    Ok(service_by_host(db, host).await?.expect("just written"))
}

/// Marks every service of `agent` as seen now.
pub async fn heartbeat(db: &Db, agent: &str) -> DbResult<()> {
    sqlx::query("UPDATE compute_services SET last_seen_up = $1 WHERE agent = $2")
        .bind(now())
        .bind(agent)
        .execute(db.writer())
        .await
        .map_err(e)?;
    Ok(())
}

pub async fn set_service_status(
    db: &Db,
    id: i64,
    disabled: bool,
    reason: Option<&str>,
    forced_down: bool,
) -> DbResult<()> {
    sqlx::query(
        "UPDATE compute_services SET disabled = $1, disabled_reason = $2, forced_down = $3, updated_at = $4 WHERE id = $5",
    )
    .bind(disabled as i64)
    .bind(reason)
    .bind(forced_down as i64)
    .bind(now())
    .bind(id)
    .execute(db.writer())
    .await
    .map_err(e)?;
    Ok(())
}

const NODE_COLUMNS: &str = "id, uuid, service_id, host, hypervisor_hostname, hypervisor_type, hypervisor_version, \
     vcpus, memory_mb, local_gb, cpu_info, host_ip";

fn node(r: &AnyRow) -> Node {
    Node {
        id: get_i(r, "id"),
        uuid: get_s(r, "uuid"),
        service_id: get_i(r, "service_id"),
        host: get_s(r, "host"),
        hypervisor_hostname: get_s(r, "hypervisor_hostname"),
        hypervisor_type: get_s(r, "hypervisor_type"),
        hypervisor_version: get_i(r, "hypervisor_version"),
        vcpus: get_i(r, "vcpus"),
        memory_mb: get_i(r, "memory_mb"),
        local_gb: get_i(r, "local_gb"),
        cpu_info: get_s(r, "cpu_info"),
        host_ip: get_os(r, "host_ip"),
    }
}

pub async fn nodes(db: &Db) -> DbResult<Vec<Node>> {
    let rows = sqlx::query(&format!("SELECT {NODE_COLUMNS} FROM compute_nodes ORDER BY id"))
        .fetch_all(db.reader())
        .await
        .map_err(e)?;
    Ok(rows.iter().map(node).collect())
}

pub async fn node_by_name(db: &Db, name: &str) -> DbResult<Option<Node>> {
    let row = sqlx::query(&format!("SELECT {NODE_COLUMNS} FROM compute_nodes WHERE hypervisor_hostname = $1"))
        .bind(name)
        .fetch_optional(db.reader())
        .await
        .map_err(e)?;
    Ok(row.as_ref().map(node))
}

/// Records a node as its agent reports it; its uuid stays what it was.
pub async fn report_node(db: &Db, service: &Service, n: &virt::NodeResources) -> DbResult<Node> {
    let now = now();
    sqlx::query(
        "INSERT INTO compute_nodes (uuid, service_id, host, hypervisor_hostname, hypervisor_type, hypervisor_version, \
         vcpus, memory_mb, local_gb, cpu_info, host_ip, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, $11, NULL) \
         ON CONFLICT (hypervisor_hostname) DO UPDATE SET service_id = excluded.service_id, host = excluded.host, \
         hypervisor_type = excluded.hypervisor_type, hypervisor_version = excluded.hypervisor_version, \
         vcpus = excluded.vcpus, memory_mb = excluded.memory_mb, local_gb = excluded.local_gb, \
         cpu_info = excluded.cpu_info, updated_at = excluded.created_at",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(service.id)
    .bind(&service.host)
    .bind(&n.name)
    .bind(&n.hypervisor_type)
    .bind(n.hypervisor_version)
    .bind(n.vcpus)
    .bind(n.memory_mb)
    .bind(n.local_gb)
    .bind(&n.cpu_info)
    .bind(&now)
    .execute(db.writer())
    .await
    .map_err(e)?;
    Ok(node_by_name(db, &n.name).await?.expect("just written"))
}

/// Queues a command for an agent; a second call with the same key queues
/// nothing and answers the first one's sequence number. Sequence numbers
/// come from one counter row updated in the same transaction, so commands
/// become visible in sequence order: an agent that saw command N has seen
/// every command before N (a plain sequence could commit out of order on
/// PostgreSQL, and an agent polling "after N" would miss the late one).
pub async fn insert_command(db: &Db, agent: &str, host: &str, key: &str, body: &str) -> DbResult<i64> {
    let existing = |conn| {
        sqlx::query("SELECT seq FROM compute_agent_commands WHERE idempotency_key = $1").bind(key).fetch_optional(conn)
    };
    if let Some(r) = existing(db.writer()).await.map_err(e)? {
        return Ok(get_i(&r, "seq"));
    }
    let mut tx = db.writer().begin().await.map_err(e)?;
    let r = sqlx::query("UPDATE compute_agent_seq SET seq = seq + 1 WHERE id = 1 RETURNING seq")
        .fetch_one(&mut *tx)
        .await
        .map_err(e)?;
    let seq = get_i(&r, "seq");
    let inserted = sqlx::query(
        "INSERT INTO compute_agent_commands (seq, agent, host, idempotency_key, body, state, result, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 'pending', NULL, $6, NULL)",
    )
    .bind(seq)
    .bind(agent)
    .bind(host)
    .bind(key)
    .bind(body)
    .bind(now())
    .execute(&mut *tx)
    .await;
    match inserted {
        Ok(_) => {
            tx.commit().await.map_err(e)?;
            Ok(seq)
        }
        Err(err) => {
            drop(tx);
            match DbError::from_sqlx(err) {
                // Another controller queued the same command meanwhile.
                DbError::Conflict => {
                    Ok(get_i(&existing(db.writer()).await.map_err(e)?.ok_or(DbError::Conflict)?, "seq"))
                }
                other => Err(other),
            }
        }
    }
}

/// Pending commands of an agent after `after`: (seq, host, body).
pub async fn pending_commands(db: &Db, agent: &str, after: i64) -> DbResult<Vec<(i64, String, String)>> {
    let rows = sqlx::query(
        "SELECT seq, host, body FROM compute_agent_commands WHERE agent = $1 AND state = 'pending' AND seq > $2 \
         ORDER BY seq LIMIT 500",
    )
    .bind(agent)
    .bind(after)
    .fetch_all(db.reader())
    .await
    .map_err(e)?;
    Ok(rows.iter().map(|r| (get_i(r, "seq"), get_s(r, "host"), get_s(r, "body"))).collect())
}

/// Where a reconnecting agent starts: just before its oldest pending command.
pub async fn resume_point(db: &Db, agent: &str) -> DbResult<i64> {
    let row = sqlx::query(
        "SELECT MIN(seq) AS p, (SELECT MAX(seq) FROM compute_agent_commands) AS m FROM compute_agent_commands \
         WHERE agent = $1 AND state = 'pending'",
    )
    .bind(agent)
    .fetch_one(db.reader())
    .await
    .map_err(e)?;
    Ok(match get_oi(&row, "p") {
        Some(p) => p - 1,
        None => get_oi(&row, "m").unwrap_or(0),
    })
}

/// Records a command's result (once); false when it was not pending.
pub async fn finish_command(db: &Db, seq: i64, agent: &str, failed: bool, result: &str) -> DbResult<bool> {
    let r = sqlx::query(
        "UPDATE compute_agent_commands SET state = $1, result = $2, updated_at = $3 \
         WHERE seq = $4 AND agent = $5 AND state = 'pending'",
    )
    .bind(if failed { "failed" } else { "done" })
    .bind(result)
    .bind(now())
    .bind(seq)
    .bind(agent)
    .execute(db.writer())
    .await
    .map_err(e)?;
    Ok(r.rows_affected() == 1)
}

/// (host, body, state) of the command queued under `key`.
pub async fn command_by_key(db: &Db, key: &str) -> DbResult<Option<(String, String, String)>> {
    let row = sqlx::query("SELECT host, body, state FROM compute_agent_commands WHERE idempotency_key = $1")
        .bind(key)
        .fetch_optional(db.reader())
        .await
        .map_err(e)?;
    Ok(row.map(|r| (get_s(&r, "host"), get_s(&r, "body"), get_s(&r, "state"))))
}

/// (state, result) of a command.
pub async fn command_state(db: &Db, seq: i64) -> DbResult<Option<(String, Option<String>)>> {
    let row = sqlx::query("SELECT state, result FROM compute_agent_commands WHERE seq = $1")
        .bind(seq)
        .fetch_optional(db.writer())
        .await
        .map_err(e)?;
    Ok(row.map(|r| (get_s(&r, "state"), get_os(&r, "result"))))
}

// ---------- instances ----------

const INSTANCE_COLUMNS: &str = "uuid, name, hostname, project_id, user_id, image_ref, flavor, key_name, key_data, \
     user_data, metadata, availability_zone, host, node, vm_state, task_state, power_state, launch_index, \
     reservation_id, description, scheduler_hints, fault, launched_at, terminated_at, created_at, updated_at, \
     deleted, deleted_at, locked_by, tags, system_metadata, old_flavor, new_flavor";

fn instance(r: &AnyRow) -> Instance {
    Instance {
        uuid: get_s(r, "uuid"),
        name: get_s(r, "name"),
        hostname: get_s(r, "hostname"),
        project_id: get_s(r, "project_id"),
        user_id: get_s(r, "user_id"),
        image_ref: get_s(r, "image_ref"),
        flavor: serde_json::from_str(&get_s(r, "flavor")).unwrap_or(InstanceFlavor {
            flavorid: String::new(),
            name: String::new(),
            vcpus: 0,
            memory_mb: 0,
            root_gb: 0,
            ephemeral_gb: 0,
            swap: 0,
            extra_specs: BTreeMap::new(),
        }),
        key_name: get_os(r, "key_name"),
        key_data: get_os(r, "key_data"),
        user_data: get_os(r, "user_data"),
        metadata: serde_json::from_str(&get_s(r, "metadata")).unwrap_or_default(),
        availability_zone: get_os(r, "availability_zone"),
        host: get_os(r, "host"),
        node: get_os(r, "node"),
        vm_state: get_s(r, "vm_state"),
        task_state: get_os(r, "task_state"),
        power_state: get_i(r, "power_state"),
        launch_index: get_i(r, "launch_index"),
        reservation_id: get_s(r, "reservation_id"),
        description: get_os(r, "description"),
        scheduler_hints: serde_json::from_str(&get_s(r, "scheduler_hints")).unwrap_or_default(),
        fault: get_os(r, "fault").and_then(|f| serde_json::from_str(&f).ok()),
        launched_at: get_os(r, "launched_at"),
        terminated_at: get_os(r, "terminated_at"),
        created_at: get_s(r, "created_at"),
        updated_at: get_os(r, "updated_at"),
        deleted: get_i(r, "deleted") != 0,
        deleted_at: get_os(r, "deleted_at"),
        locked_by: get_os(r, "locked_by"),
        tags: serde_json::from_str(&get_s(r, "tags")).unwrap_or_default(),
        system_metadata: serde_json::from_str(&get_s(r, "system_metadata")).unwrap_or_default(),
        old_flavor: get_os(r, "old_flavor").and_then(|f| serde_json::from_str(&f).ok()),
        new_flavor: get_os(r, "new_flavor").and_then(|f| serde_json::from_str(&f).ok()),
    }
}

pub async fn insert_instance(conn: &mut sqlx::AnyConnection, i: &Instance) -> DbResult<()> {
    sqlx::query(&format!(
        "INSERT INTO compute_instances ({INSTANCE_COLUMNS}, vcpus, memory_mb) VALUES ({})",
        (1..=35).map(|n| format!("${n}")).collect::<Vec<_>>().join(", ")
    ))
    .bind(&i.uuid)
    .bind(&i.name)
    .bind(&i.hostname)
    .bind(&i.project_id)
    .bind(&i.user_id)
    .bind(&i.image_ref)
    .bind(serde_json::to_string(&i.flavor).expect("flavor serializes"))
    .bind(i.key_name.as_deref())
    .bind(i.key_data.as_deref())
    .bind(i.user_data.as_deref())
    .bind(serde_json::to_string(&i.metadata).expect("metadata serializes"))
    .bind(i.availability_zone.as_deref())
    .bind(i.host.as_deref())
    .bind(i.node.as_deref())
    .bind(&i.vm_state)
    .bind(i.task_state.as_deref())
    .bind(i.power_state)
    .bind(i.launch_index)
    .bind(&i.reservation_id)
    .bind(i.description.as_deref())
    .bind(i.scheduler_hints.to_string())
    .bind(i.fault.as_ref().map(|f| serde_json::to_string(f).expect("fault serializes")))
    .bind(i.launched_at.as_deref())
    .bind(i.terminated_at.as_deref())
    .bind(&i.created_at)
    .bind(i.updated_at.as_deref())
    .bind(i.deleted as i64)
    .bind(i.deleted_at.as_deref())
    .bind(i.locked_by.as_deref())
    .bind(serde_json::to_string(&i.tags).expect("tags serialize"))
    .bind(serde_json::to_string(&i.system_metadata).expect("metadata serializes"))
    .bind(i.old_flavor.as_ref().map(|f| serde_json::to_string(f).expect("flavor serializes")))
    .bind(i.new_flavor.as_ref().map(|f| serde_json::to_string(f).expect("flavor serializes")))
    .bind(i.flavor.vcpus)
    .bind(i.flavor.memory_mb)
    .execute(conn)
    .await
    .map_err(e)?;
    Ok(())
}

pub async fn instance_by_uuid(db: &Db, uuid: &str) -> DbResult<Option<Instance>> {
    let row = sqlx::query(&format!("SELECT {INSTANCE_COLUMNS} FROM compute_instances WHERE uuid = $1"))
        .bind(uuid)
        .fetch_optional(db.writer())
        .await
        .map_err(e)?;
    Ok(row.as_ref().map(instance))
}

/// Instances not deleted, newest first; of one project unless `project` is None.
pub async fn list_instances(db: &Db, project: Option<&str>, deleted: bool) -> DbResult<Vec<Instance>> {
    let mut sql = format!("SELECT {INSTANCE_COLUMNS} FROM compute_instances WHERE deleted = $1");
    if project.is_some() {
        sql.push_str(" AND project_id = $2");
    }
    sql.push_str(" ORDER BY created_at DESC, uuid DESC");
    let mut q = sqlx::query(&sql).bind(deleted as i64);
    if let Some(p) = project {
        q = q.bind(p);
    }
    let rows = q.fetch_all(db.reader()).await.map_err(e)?;
    Ok(rows.iter().map(instance).collect())
}

/// (instances, cores, ram) a project uses.
pub async fn project_usage(db: &Db, project: &str) -> DbResult<(i64, i64, i64)> {
    let r = sqlx::query(
        "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(vcpus), 0) AS BIGINT) AS c, \
         CAST(COALESCE(SUM(memory_mb), 0) AS BIGINT) AS m FROM compute_instances WHERE project_id = $1 AND deleted = 0",
    )
    .bind(project)
    .fetch_one(db.reader())
    .await
    .map_err(e)?;
    Ok((get_i(&r, "n"), get_i(&r, "c"), get_i(&r, "m")))
}

/// Sets an instance's states (and optionally its host and node) unless it
/// is deleted; false when it is.
pub async fn set_instance_state(
    db: &Db,
    uuid: &str,
    vm_state: &str,
    task_state: Option<&str>,
    power_state: i64,
) -> DbResult<bool> {
    let r = sqlx::query(
        "UPDATE compute_instances SET vm_state = $1, task_state = $2, power_state = $3, updated_at = $4 \
         WHERE uuid = $5 AND deleted = 0",
    )
    .bind(vm_state)
    .bind(task_state)
    .bind(power_state)
    .bind(now())
    .bind(uuid)
    .execute(db.writer())
    .await
    .map_err(e)?;
    Ok(r.rows_affected() == 1)
}

/// Records where an instance is (None clears the host and node, and keeps
/// the zone) and, when given, the task it goes on with (a delete under way
/// keeps its `deleting`).
pub async fn set_instance_host(
    db: &Db,
    uuid: &str,
    host: Option<&str>,
    node: Option<&str>,
    az: Option<&str>,
    task_state: Option<&str>,
) -> DbResult<()> {
    sqlx::query(
        "UPDATE compute_instances SET host = $1, node = $2, availability_zone = COALESCE($3, availability_zone), \
         task_state = CASE WHEN task_state = 'deleting' THEN task_state ELSE COALESCE($4, task_state) END, \
         updated_at = $5 WHERE uuid = $6",
    )
    .bind(host)
    .bind(node)
    .bind(az)
    .bind(task_state)
    .bind(now())
    .bind(uuid)
    .execute(db.writer())
    .await
    .map_err(e)?;
    Ok(())
}

/// The build finished: ACTIVE, running, launched now; false when the
/// instance is being deleted (or is gone) meanwhile.
pub async fn instance_built(db: &Db, uuid: &str, power_state: i64) -> DbResult<bool> {
    let now = now();
    let r = sqlx::query(
        "UPDATE compute_instances SET vm_state = 'active', task_state = NULL, power_state = $1, launched_at = $2, \
         updated_at = $2 WHERE uuid = $3 AND deleted = 0 AND vm_state = 'building' \
         AND (task_state IS NULL OR task_state <> 'deleting')",
    )
    .bind(power_state)
    .bind(&now)
    .bind(uuid)
    .execute(db.writer())
    .await
    .map_err(e)?;
    Ok(r.rows_affected() == 1)
}

pub async fn instance_failed(db: &Db, uuid: &str, fault: &Fault) -> DbResult<()> {
    sqlx::query(
        "UPDATE compute_instances SET vm_state = 'error', task_state = NULL, fault = $1, updated_at = $2 \
         WHERE uuid = $3 AND deleted = 0 AND (task_state IS NULL OR task_state <> 'deleting')",
    )
    .bind(serde_json::to_string(fault).expect("fault serializes"))
    .bind(now())
    .bind(uuid)
    .execute(db.writer())
    .await
    .map_err(e)?;
    Ok(())
}

/// Starts a delete: task_state `deleting`, in the caller's transaction;
/// false when the instance is already gone or being deleted.
pub async fn mark_deleting(conn: &mut sqlx::AnyConnection, uuid: &str) -> DbResult<bool> {
    let r = sqlx::query(
        "UPDATE compute_instances SET task_state = 'deleting', updated_at = $1 WHERE uuid = $2 AND deleted = 0 \
         AND (task_state IS NULL OR task_state <> 'deleting')",
    )
    .bind(now())
    .bind(uuid)
    .execute(conn)
    .await
    .map_err(e)?;
    Ok(r.rows_affected() == 1)
}

pub async fn mark_deleted(db: &Db, uuid: &str) -> DbResult<()> {
    let now = now();
    sqlx::query(
        "UPDATE compute_instances SET deleted = 1, vm_state = 'deleted', task_state = NULL, power_state = 0, \
         deleted_at = $1, terminated_at = $1, updated_at = $1 WHERE uuid = $2 AND deleted = 0",
    )
    .bind(&now)
    .bind(uuid)
    .execute(db.writer())
    .await
    .map_err(e)?;
    Ok(())
}

pub async fn instances_on_host(db: &Db, host: &str) -> DbResult<Vec<Instance>> {
    let rows = sqlx::query(&format!(
        "SELECT {INSTANCE_COLUMNS} FROM compute_instances WHERE host = $1 AND deleted = 0 ORDER BY created_at"
    ))
    .bind(host)
    .fetch_all(db.reader())
    .await
    .map_err(e)?;
    Ok(rows.iter().map(instance).collect())
}

/// Removes a service and its nodes.
pub async fn delete_service(db: &Db, id: i64) -> DbResult<()> {
    let mut tx = db.writer().begin().await.map_err(e)?;
    sqlx::query("DELETE FROM compute_nodes WHERE service_id = $1").bind(id).execute(&mut *tx).await.map_err(e)?;
    sqlx::query("DELETE FROM compute_services WHERE id = $1").bind(id).execute(&mut *tx).await.map_err(e)?;
    tx.commit().await.map_err(e)
}

/// Records the instances a host reported it runs.
pub async fn set_reported_instances(db: &Db, host: &str, uuids: &[String]) -> DbResult<()> {
    sqlx::query(
        "UPDATE compute_services SET reported_instances = $1 WHERE host = $2 AND service_binary = 'nova-compute'",
    )
    .bind(serde_json::to_string(uuids).expect("list serializes"))
    .bind(host)
    .execute(db.writer())
    .await
    .map_err(e)?;
    Ok(())
}

/// The instances a host last reported it runs.
pub async fn reported_instances(db: &Db, host: &str) -> DbResult<Vec<String>> {
    let row = sqlx::query(
        "SELECT reported_instances FROM compute_services WHERE host = $1 AND service_binary = 'nova-compute'",
    )
    .bind(host)
    .fetch_optional(db.reader())
    .await
    .map_err(e)?;
    Ok(row
        .and_then(|r| get_os(&r, "reported_instances"))
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default())
}

/// A page of instances not deleted, newest first, after (created_at, uuid).
pub async fn instances_page(
    db: &Db,
    project: Option<&str>,
    after: Option<(&str, &str)>,
    limit: i64,
) -> DbResult<Vec<Instance>> {
    let mut sql = format!("SELECT {INSTANCE_COLUMNS} FROM compute_instances WHERE deleted = 0");
    let mut n = 0;
    let mut next = || {
        n += 1;
        format!("${n}")
    };
    if project.is_some() {
        sql.push_str(&format!(" AND project_id = {}", next()));
    }
    if after.is_some() {
        let (a, b, c) = (next(), next(), next());
        sql.push_str(&format!(" AND (created_at < {a} OR (created_at = {b} AND uuid < {c}))"));
    }
    sql.push_str(&format!(" ORDER BY created_at DESC, uuid DESC LIMIT {}", next()));
    let mut q = sqlx::query(&sql);
    if let Some(p) = project {
        q = q.bind(p);
    }
    if let Some((created, uuid)) = after {
        q = q.bind(created).bind(created).bind(uuid);
    }
    let rows = q.bind(limit).fetch_all(db.reader()).await.map_err(e)?;
    Ok(rows.iter().map(instance).collect())
}

// ---------- instance state changes ----------

/// Moves an instance that is still in (`vm_state`, `task_state`) to
/// `new_task`; false when something else changed it first.
pub async fn begin_task(
    conn: &mut sqlx::AnyConnection,
    uuid: &str,
    vm_state: &str,
    task_state: Option<&str>,
    new_task: Option<&str>,
) -> DbResult<bool> {
    let r = sqlx::query(
        "UPDATE compute_instances SET task_state = $1, updated_at = $2 WHERE uuid = $3 AND deleted = 0 \
         AND vm_state = $4 AND COALESCE(task_state, '') = $5",
    )
    .bind(new_task)
    .bind(now())
    .bind(uuid)
    .bind(vm_state)
    .bind(task_state.unwrap_or(""))
    .execute(conn)
    .await
    .map_err(e)?;
    Ok(r.rows_affected() == 1)
}

/// Ends the task `task` (None: no task) of an instance: its new vm_state
/// and power state; false when the instance moved on (deleted, or another
/// task took over).
pub async fn finish_task(
    db: &Db,
    uuid: &str,
    task: Option<&str>,
    vm_state: &str,
    power_state: Option<i64>,
) -> DbResult<bool> {
    let r = sqlx::query(
        "UPDATE compute_instances SET vm_state = $1, task_state = NULL, power_state = COALESCE($2, power_state), \
         updated_at = $3 WHERE uuid = $4 AND deleted = 0 AND COALESCE(task_state, '') = $5",
    )
    .bind(vm_state)
    .bind(power_state)
    .bind(now())
    .bind(uuid)
    .bind(task.unwrap_or(""))
    .execute(db.writer())
    .await
    .map_err(e)?;
    Ok(r.rows_affected() == 1)
}

/// Sets vm_state and clears the task whatever they were (`os-resetState`).
pub async fn reset_state(conn: &mut sqlx::AnyConnection, uuid: &str, vm_state: &str) -> DbResult<()> {
    sqlx::query("UPDATE compute_instances SET vm_state = $1, task_state = NULL, updated_at = $2 WHERE uuid = $3")
        .bind(vm_state)
        .bind(now())
        .bind(uuid)
        .execute(conn)
        .await
        .map_err(e)?;
    Ok(())
}

/// Writes the editable fields of an instance as `i` has them.
pub async fn save_instance_fields(conn: &mut sqlx::AnyConnection, i: &Instance) -> DbResult<()> {
    sqlx::query(
        "UPDATE compute_instances SET name = $1, description = $2, hostname = $3, metadata = $4, tags = $5, \
         system_metadata = $6, locked_by = $7, updated_at = $8, image_ref = $9, key_name = $10, key_data = $11, \
         user_data = $12 WHERE uuid = $13",
    )
    .bind(&i.name)
    .bind(i.description.as_deref())
    .bind(&i.hostname)
    .bind(serde_json::to_string(&i.metadata).expect("metadata serializes"))
    .bind(serde_json::to_string(&i.tags).expect("tags serialize"))
    .bind(serde_json::to_string(&i.system_metadata).expect("metadata serializes"))
    .bind(i.locked_by.as_deref())
    .bind(now())
    .bind(&i.image_ref)
    .bind(i.key_name.as_deref())
    .bind(i.key_data.as_deref())
    .bind(i.user_data.as_deref())
    .bind(&i.uuid)
    .execute(conn)
    .await
    .map_err(e)?;
    Ok(())
}

/// Writes where an instance runs and with which flavors (resize and
/// migration steps).
pub async fn save_placement(db: &Db, i: &Instance) -> DbResult<()> {
    sqlx::query(
        "UPDATE compute_instances SET host = $1, node = $2, flavor = $3, old_flavor = $4, new_flavor = $5, \
         vcpus = $6, memory_mb = $7, system_metadata = $8, updated_at = $9 WHERE uuid = $10",
    )
    .bind(i.host.as_deref())
    .bind(i.node.as_deref())
    .bind(serde_json::to_string(&i.flavor).expect("flavor serializes"))
    .bind(i.old_flavor.as_ref().map(|f| serde_json::to_string(f).expect("flavor serializes")))
    .bind(i.new_flavor.as_ref().map(|f| serde_json::to_string(f).expect("flavor serializes")))
    .bind(i.flavor.vcpus)
    .bind(i.flavor.memory_mb)
    .bind(serde_json::to_string(&i.system_metadata).expect("metadata serializes"))
    .bind(now())
    .bind(&i.uuid)
    .execute(db.writer())
    .await
    .map_err(e)?;
    Ok(())
}

// ---------- instance actions ----------

/// One entry of `os-instance-actions`, with its events.
#[derive(Clone, Debug)]
pub struct InstanceAction {
    pub instance_uuid: String,
    pub request_id: String,
    pub action: String,
    pub user_id: String,
    pub project_id: String,
    pub start_time: String,
    pub message: Option<String>,
    pub updated_at: String,
    pub events: Vec<serde_json::Value>,
}

fn instance_action(r: &AnyRow) -> InstanceAction {
    InstanceAction {
        instance_uuid: get_s(r, "instance_uuid"),
        request_id: get_s(r, "request_id"),
        action: get_s(r, "action"),
        user_id: get_s(r, "user_id"),
        project_id: get_s(r, "project_id"),
        start_time: get_s(r, "start_time"),
        message: get_os(r, "message"),
        updated_at: get_s(r, "updated_at"),
        events: serde_json::from_str(&get_s(r, "events")).unwrap_or_default(),
    }
}

pub async fn insert_action(
    conn: &mut sqlx::AnyConnection,
    uuid: &str,
    request_id: &str,
    action: &str,
    user_id: &str,
    project_id: &str,
) -> DbResult<()> {
    let now = now();
    sqlx::query(
        "INSERT INTO compute_instance_actions (instance_uuid, request_id, action, user_id, project_id, start_time, \
         updated_at, events) VALUES ($1, $2, $3, $4, $5, $6, $6, '[]') ON CONFLICT (instance_uuid, request_id) DO NOTHING",
    )
    .bind(uuid)
    .bind(request_id)
    .bind(action)
    .bind(user_id)
    .bind(project_id)
    .bind(&now)
    .execute(conn)
    .await
    .map_err(e)?;
    Ok(())
}

/// Records how one event of an action went (replacing an earlier record
/// of the same event, as a repeated step writes it again); an error also
/// becomes the action's message.
pub async fn action_event(
    db: &Db,
    uuid: &str,
    request_id: &str,
    event: &str,
    host: Option<&str>,
    error: Option<&str>,
) -> DbResult<()> {
    let mut tx = db.writer().begin().await.map_err(e)?;
    let row = sqlx::query("SELECT events FROM compute_instance_actions WHERE instance_uuid = $1 AND request_id = $2")
        .bind(uuid)
        .bind(request_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(e)?;
    let Some(row) = row else { return Ok(()) };
    let mut events: Vec<serde_json::Value> = serde_json::from_str(&get_s(&row, "events")).unwrap_or_default();
    events.retain(|v| v["event"] != event);
    let now = now();
    events.push(serde_json::json!({
        "event": event, "start_time": now, "finish_time": now,
        "result": if error.is_some() { "Error" } else { "Success" },
        "traceback": error, "host": host, "details": error,
    }));
    sqlx::query(
        "UPDATE compute_instance_actions SET events = $1, updated_at = $2, finish_time = $2, \
         message = COALESCE($3, message) WHERE instance_uuid = $4 AND request_id = $5",
    )
    .bind(serde_json::Value::from(events).to_string())
    .bind(&now)
    .bind(error.map(|_| "Error"))
    .bind(uuid)
    .bind(request_id)
    .execute(&mut *tx)
    .await
    .map_err(e)?;
    tx.commit().await.map_err(e)
}

/// An instance's actions, newest first.
pub async fn instance_actions(db: &Db, uuid: &str) -> DbResult<Vec<InstanceAction>> {
    let rows = sqlx::query(
        "SELECT * FROM compute_instance_actions WHERE instance_uuid = $1 ORDER BY start_time DESC, request_id DESC",
    )
    .bind(uuid)
    .fetch_all(db.reader())
    .await
    .map_err(e)?;
    Ok(rows.iter().map(instance_action).collect())
}

// ---------- quotas ----------

/// The limits set for a project: its own, then (overriding them) the
/// user's within it when `user` is given.
pub async fn quotas(db: &Db, project: &str, user: Option<&str>) -> DbResult<BTreeMap<String, i64>> {
    let rows = sqlx::query(
        "SELECT resource, hard_limit, user_id FROM compute_quotas WHERE project_id = $1 \
         AND (user_id = '' OR user_id = $2) ORDER BY user_id",
    )
    .bind(project)
    .bind(user.unwrap_or(""))
    .fetch_all(db.reader())
    .await
    .map_err(e)?;
    Ok(rows.iter().map(|r| (get_s(r, "resource"), get_i(r, "hard_limit"))).collect())
}

pub async fn set_quotas(db: &Db, project: &str, user: &str, limits: &BTreeMap<String, i64>) -> DbResult<()> {
    let mut tx = db.writer().begin().await.map_err(e)?;
    for (resource, limit) in limits {
        sqlx::query(
            "INSERT INTO compute_quotas (project_id, user_id, resource, hard_limit) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (project_id, user_id, resource) DO UPDATE SET hard_limit = excluded.hard_limit",
        )
        .bind(project)
        .bind(user)
        .bind(resource)
        .bind(limit)
        .execute(&mut *tx)
        .await
        .map_err(e)?;
    }
    tx.commit().await.map_err(e)
}

pub async fn delete_quotas(db: &Db, project: &str, user: Option<&str>) -> DbResult<()> {
    let mut q = String::from("DELETE FROM compute_quotas WHERE project_id = $1");
    if user.is_some() {
        q.push_str(" AND user_id = $2");
    }
    let mut query = sqlx::query(&q).bind(project);
    if let Some(u) = user {
        query = query.bind(u);
    }
    query.execute(db.writer()).await.map_err(e)?;
    Ok(())
}

pub async fn quota_class(db: &Db, class: &str) -> DbResult<BTreeMap<String, i64>> {
    let rows = sqlx::query("SELECT resource, hard_limit FROM compute_quota_classes WHERE class_name = $1")
        .bind(class)
        .fetch_all(db.reader())
        .await
        .map_err(e)?;
    Ok(rows.iter().map(|r| (get_s(r, "resource"), get_i(r, "hard_limit"))).collect())
}

pub async fn set_quota_class(db: &Db, class: &str, limits: &BTreeMap<String, i64>) -> DbResult<()> {
    let mut tx = db.writer().begin().await.map_err(e)?;
    for (resource, limit) in limits {
        sqlx::query(
            "INSERT INTO compute_quota_classes (class_name, resource, hard_limit) VALUES ($1, $2, $3) \
             ON CONFLICT (class_name, resource) DO UPDATE SET hard_limit = excluded.hard_limit",
        )
        .bind(class)
        .bind(resource)
        .bind(limit)
        .execute(&mut *tx)
        .await
        .map_err(e)?;
    }
    tx.commit().await.map_err(e)
}

/// Server groups a project has.
pub async fn count_server_groups(db: &Db, project: &str) -> DbResult<i64> {
    let r = sqlx::query("SELECT COUNT(*) AS n FROM compute_server_groups WHERE project_id = $1")
        .bind(project)
        .fetch_one(db.reader())
        .await
        .map_err(e)?;
    Ok(get_i(&r, "n"))
}

// ---------- aggregates ----------

/// Every host aggregate with its hosts and metadata, by id.
pub async fn aggregates(db: &Db) -> DbResult<Vec<crate::model::Aggregate>> {
    let rows = sqlx::query("SELECT id, uuid, name, created_at, updated_at FROM compute_aggregates ORDER BY id")
        .fetch_all(db.reader())
        .await
        .map_err(e)?;
    let mut out: Vec<crate::model::Aggregate> = rows
        .iter()
        .map(|r| crate::model::Aggregate {
            id: get_i(r, "id"),
            uuid: get_s(r, "uuid"),
            name: get_s(r, "name"),
            created_at: get_s(r, "created_at"),
            updated_at: get_os(r, "updated_at"),
            hosts: Vec::new(),
            metadata: BTreeMap::new(),
        })
        .collect();
    let hosts = sqlx::query("SELECT aggregate_id, host FROM compute_aggregate_hosts ORDER BY host")
        .fetch_all(db.reader())
        .await
        .map_err(e)?;
    let meta = sqlx::query("SELECT aggregate_id, key, value FROM compute_aggregate_metadata")
        .fetch_all(db.reader())
        .await
        .map_err(e)?;
    for a in &mut out {
        a.hosts = hosts.iter().filter(|r| get_i(r, "aggregate_id") == a.id).map(|r| get_s(r, "host")).collect();
        a.metadata = meta
            .iter()
            .filter(|r| get_i(r, "aggregate_id") == a.id)
            .map(|r| (get_s(r, "key"), get_s(r, "value")))
            .collect();
    }
    Ok(out)
}

pub async fn insert_aggregate(db: &Db, uuid: &str, name: &str) -> DbResult<i64> {
    let r = sqlx::query("INSERT INTO compute_aggregates (uuid, name, created_at) VALUES ($1, $2, $3) RETURNING id")
        .bind(uuid)
        .bind(name)
        .bind(now())
        .fetch_one(db.writer())
        .await
        .map_err(e)?;
    Ok(get_i(&r, "id"))
}

pub async fn rename_aggregate(db: &Db, id: i64, name: &str) -> DbResult<()> {
    sqlx::query("UPDATE compute_aggregates SET name = $1 WHERE id = $2")
        .bind(name)
        .bind(id)
        .execute(db.writer())
        .await
        .map_err(e)?;
    Ok(())
}

/// Merges metadata into an aggregate's (None deletes a key).
pub async fn set_aggregate_metadata(db: &Db, id: i64, changes: &BTreeMap<String, Option<String>>) -> DbResult<()> {
    let mut tx = db.writer().begin().await.map_err(e)?;
    for (k, v) in changes {
        sqlx::query("DELETE FROM compute_aggregate_metadata WHERE aggregate_id = $1 AND key = $2")
            .bind(id)
            .bind(k)
            .execute(&mut *tx)
            .await
            .map_err(e)?;
        if let Some(v) = v {
            sqlx::query("INSERT INTO compute_aggregate_metadata (aggregate_id, key, value) VALUES ($1, $2, $3)")
                .bind(id)
                .bind(k)
                .bind(v)
                .execute(&mut *tx)
                .await
                .map_err(e)?;
        }
    }
    sqlx::query("UPDATE compute_aggregates SET updated_at = $1 WHERE id = $2")
        .bind(now())
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(e)?;
    tx.commit().await.map_err(e)
}

pub async fn aggregate_host(db: &Db, id: i64, host: &str, add: bool) -> DbResult<()> {
    let sql = if add {
        "INSERT INTO compute_aggregate_hosts (aggregate_id, host) VALUES ($1, $2) ON CONFLICT DO NOTHING"
    } else {
        "DELETE FROM compute_aggregate_hosts WHERE aggregate_id = $1 AND host = $2"
    };
    sqlx::query(sql).bind(id).bind(host).execute(db.writer()).await.map_err(e)?;
    Ok(())
}

pub async fn delete_aggregate(db: &Db, id: i64) -> DbResult<()> {
    let mut tx = db.writer().begin().await.map_err(e)?;
    for sql in [
        "DELETE FROM compute_aggregate_metadata WHERE aggregate_id = $1",
        "DELETE FROM compute_aggregates WHERE id = $1",
    ] {
        sqlx::query(sql).bind(id).execute(&mut *tx).await.map_err(e)?;
    }
    tx.commit().await.map_err(e)
}

// ---------- server groups ----------

#[derive(Clone, Debug)]
pub struct ServerGroup {
    pub uuid: String,
    pub name: String,
    pub project_id: String,
    pub user_id: String,
    pub policy: String,
    pub rules: serde_json::Value,
    pub created_at: String,
}

fn server_group(r: &AnyRow) -> ServerGroup {
    ServerGroup {
        uuid: get_s(r, "uuid"),
        name: get_s(r, "name"),
        project_id: get_s(r, "project_id"),
        user_id: get_s(r, "user_id"),
        policy: get_s(r, "policy"),
        rules: serde_json::from_str(&get_s(r, "rules")).unwrap_or_default(),
        created_at: get_s(r, "created_at"),
    }
}

pub async fn insert_server_group(db: &Db, g: &ServerGroup) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO compute_server_groups (uuid, name, project_id, user_id, policy, rules, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&g.uuid)
    .bind(&g.name)
    .bind(&g.project_id)
    .bind(&g.user_id)
    .bind(&g.policy)
    .bind(g.rules.to_string())
    .bind(&g.created_at)
    .execute(db.writer())
    .await
    .map_err(e)?;
    Ok(())
}

pub async fn server_groups(db: &Db, project: Option<&str>) -> DbResult<Vec<ServerGroup>> {
    let rows = match project {
        Some(p) => sqlx::query("SELECT * FROM compute_server_groups WHERE project_id = $1 ORDER BY id")
            .bind(p)
            .fetch_all(db.reader())
            .await
            .map_err(e)?,
        None => {
            sqlx::query("SELECT * FROM compute_server_groups ORDER BY id").fetch_all(db.reader()).await.map_err(e)?
        }
    };
    Ok(rows.iter().map(server_group).collect())
}

pub async fn server_group_by_uuid(db: &Db, uuid: &str) -> DbResult<Option<ServerGroup>> {
    let row = sqlx::query("SELECT * FROM compute_server_groups WHERE uuid = $1")
        .bind(uuid)
        .fetch_optional(db.writer())
        .await
        .map_err(e)?;
    Ok(row.as_ref().map(server_group))
}

pub async fn delete_server_group(db: &Db, uuid: &str) -> DbResult<()> {
    let mut tx = db.writer().begin().await.map_err(e)?;
    sqlx::query("DELETE FROM compute_server_group_members WHERE group_uuid = $1")
        .bind(uuid)
        .execute(&mut *tx)
        .await
        .map_err(e)?;
    sqlx::query("DELETE FROM compute_server_groups WHERE uuid = $1").bind(uuid).execute(&mut *tx).await.map_err(e)?;
    tx.commit().await.map_err(e)
}

pub async fn add_group_member(conn: &mut sqlx::AnyConnection, group: &str, instance: &str) -> DbResult<()> {
    sqlx::query("INSERT INTO compute_server_group_members (group_uuid, instance_uuid) VALUES ($1, $2)")
        .bind(group)
        .bind(instance)
        .execute(conn)
        .await
        .map_err(e)?;
    Ok(())
}

/// The members of a group that are not deleted: (uuid, host).
pub async fn group_members(db: &Db, group: &str) -> DbResult<Vec<(String, Option<String>)>> {
    let rows = sqlx::query(
        "SELECT i.uuid, i.host FROM compute_server_group_members m JOIN compute_instances i \
         ON i.uuid = m.instance_uuid WHERE m.group_uuid = $1 AND i.deleted = 0 ORDER BY i.created_at",
    )
    .bind(group)
    .fetch_all(db.writer())
    .await
    .map_err(e)?;
    Ok(rows.iter().map(|r| (get_s(r, "uuid"), get_os(r, "host"))).collect())
}

/// The groups an instance belongs to.
pub async fn instance_groups(db: &Db, instance: &str) -> DbResult<Vec<String>> {
    let rows = sqlx::query("SELECT group_uuid FROM compute_server_group_members WHERE instance_uuid = $1")
        .bind(instance)
        .fetch_all(db.reader())
        .await
        .map_err(e)?;
    Ok(rows.iter().map(|r| get_s(r, "group_uuid")).collect())
}

// ---------- migrations ----------

fn migration(r: &AnyRow) -> crate::model::Migration {
    let flavor = |k: &str| {
        serde_json::from_str(&get_s(r, k)).unwrap_or(InstanceFlavor {
            flavorid: String::new(),
            name: String::new(),
            vcpus: 0,
            memory_mb: 0,
            root_gb: 0,
            ephemeral_gb: 0,
            swap: 0,
            extra_specs: BTreeMap::new(),
        })
    };
    crate::model::Migration {
        id: get_i(r, "id"),
        uuid: get_s(r, "uuid"),
        instance_uuid: get_s(r, "instance_uuid"),
        migration_type: get_s(r, "migration_type"),
        status: get_s(r, "status"),
        source_compute: get_os(r, "source_compute"),
        source_node: get_os(r, "source_node"),
        dest_compute: get_os(r, "dest_compute"),
        dest_node: get_os(r, "dest_node"),
        old_flavor: flavor("old_flavor"),
        new_flavor: flavor("new_flavor"),
        user_id: get_s(r, "user_id"),
        project_id: get_s(r, "project_id"),
        created_at: get_s(r, "created_at"),
        updated_at: get_os(r, "updated_at"),
    }
}

pub async fn insert_migration(conn: &mut sqlx::AnyConnection, m: &crate::model::Migration) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO compute_migrations (uuid, instance_uuid, migration_type, status, source_compute, source_node, \
         dest_compute, dest_node, old_flavor, new_flavor, user_id, project_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(&m.uuid)
    .bind(&m.instance_uuid)
    .bind(&m.migration_type)
    .bind(&m.status)
    .bind(m.source_compute.as_deref())
    .bind(m.source_node.as_deref())
    .bind(m.dest_compute.as_deref())
    .bind(m.dest_node.as_deref())
    .bind(serde_json::to_string(&m.old_flavor).expect("flavor serializes"))
    .bind(serde_json::to_string(&m.new_flavor).expect("flavor serializes"))
    .bind(&m.user_id)
    .bind(&m.project_id)
    .bind(&m.created_at)
    .execute(conn)
    .await
    .map_err(e)?;
    Ok(())
}

pub async fn migration_by_uuid(db: &Db, uuid: &str) -> DbResult<Option<crate::model::Migration>> {
    let row = sqlx::query("SELECT * FROM compute_migrations WHERE uuid = $1")
        .bind(uuid)
        .fetch_optional(db.writer())
        .await
        .map_err(e)?;
    Ok(row.as_ref().map(migration))
}

/// Migrations, newest first; of one instance when given.
pub async fn migrations(db: &Db, instance: Option<&str>) -> DbResult<Vec<crate::model::Migration>> {
    let rows = match instance {
        Some(i) => sqlx::query("SELECT * FROM compute_migrations WHERE instance_uuid = $1 ORDER BY id DESC")
            .bind(i)
            .fetch_all(db.writer())
            .await
            .map_err(e)?,
        None => {
            sqlx::query("SELECT * FROM compute_migrations ORDER BY id DESC").fetch_all(db.reader()).await.map_err(e)?
        }
    };
    Ok(rows.iter().map(migration).collect())
}

pub async fn set_migration(db: &Db, uuid: &str, status: &str, dest: Option<(&str, &str)>) -> DbResult<()> {
    sqlx::query(
        "UPDATE compute_migrations SET status = $1, dest_compute = COALESCE($2, dest_compute), \
         dest_node = COALESCE($3, dest_node), updated_at = $4 WHERE uuid = $5",
    )
    .bind(status)
    .bind(dest.map(|d| d.0))
    .bind(dest.map(|d| d.1))
    .bind(now())
    .bind(uuid)
    .execute(db.writer())
    .await
    .map_err(e)?;
    Ok(())
}

/// Every instance, deleted ones too, by project and uuid (usage reports).
pub async fn instances_for_usage(db: &Db, project: Option<&str>) -> DbResult<Vec<Instance>> {
    let rows = match project {
        Some(p) => sqlx::query(&format!(
            "SELECT {INSTANCE_COLUMNS} FROM compute_instances WHERE project_id = $1 ORDER BY project_id, uuid"
        ))
        .bind(p)
        .fetch_all(db.reader())
        .await
        .map_err(e)?,
        None => sqlx::query(&format!("SELECT {INSTANCE_COLUMNS} FROM compute_instances ORDER BY project_id, uuid"))
            .fetch_all(db.reader())
            .await
            .map_err(e)?,
    };
    Ok(rows.iter().map(instance).collect())
}
