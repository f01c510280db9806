//! Placement's domain logic: name resolution for resource classes and
//! traits, the in-memory provider snapshot every controller keeps in step
//! with the database, policy, and the writes that must be checked together
//! (inventories against usage, allocations against capacity, generations).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, RwLock};

use api_core::{ApiError, ApiResult, RequestContext};
use axum::http::StatusCode;
use db::{Db, DbError};
use serde_json::Value;

use crate::candidates::{Inventory, Provider, Snapshot};
use crate::config::PlacementConfig;
use crate::db as q;
use crate::model::*;
use crate::standard::{is_standard_trait, CUSTOM_RESOURCE_CLASS_ID_START, STANDARD_RESOURCE_CLASSES, STANDARD_TRAITS};

pub const CONCURRENT_UPDATE: &str = "placement.concurrent_update";
pub const DUPLICATE_NAME: &str = "placement.duplicate_name";
pub const INVENTORY_INUSE: &str = "placement.inventory.inuse";
pub const PROVIDER_IN_USE: &str = "placement.resource_provider.inuse";
pub const PROVIDER_CANNOT_DELETE_PARENT: &str = "placement.resource_provider.cannot_delete_parent";
pub const RESOURCE_PROVIDER_NOT_FOUND: &str = "placement.resource_provider.not_found";
pub const ILLEGAL_DUPLICATE_QUERYPARAM: &str = "placement.query.duplicate_key";
pub const QUERYPARAM_BAD_VALUE: &str = "placement.query.bad_value";
pub const QUERYPARAM_MISSING_VALUE: &str = "placement.query.missing_value";

/// An error with webob's wording around `detail`, as Placement's bodies carry it.
pub fn perr(status: StatusCode, detail: impl AsRef<str>) -> ApiError {
    let explanation = match status.as_u16() {
        400 => "The server could not comply with the request since it is either malformed or otherwise incorrect. ",
        403 => "Access was denied to this resource.",
        404 => "The resource could not be found.",
        409 => "There was a conflict when trying to complete your request.",
        _ => "",
    };
    ApiError::new(status, format!("{explanation}\n\n {}  ", detail.as_ref()))
}

pub fn bad(detail: impl AsRef<str>) -> ApiError {
    perr(StatusCode::BAD_REQUEST, detail)
}
pub fn not_found(detail: impl AsRef<str>) -> ApiError {
    perr(StatusCode::NOT_FOUND, detail)
}
pub fn conflict(detail: impl AsRef<str>) -> ApiError {
    perr(StatusCode::CONFLICT, detail)
}

pub fn db_err(e: DbError) -> ApiError {
    tracing::error!(error = %e, "placement database error");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "The database failed the request; see the controller log and check that the database is reachable.",
    )
}

/// Custom resource classes and all traits, by name and id. Reloaded from the
/// database when the names version there moved on (a custom class or trait
/// was made, renamed or deleted, here or on another controller) before a
/// custom name is used. Standard classes never change and standard traits
/// cannot be deleted, so they are trusted without asking.
#[derive(Default)]
struct Names {
    /// The names version these were loaded at.
    version: i64,
    classes: HashMap<String, i64>,
    class_names: HashMap<i64, String>,
    traits: HashMap<String, i64>,
    trait_names: HashMap<i64, String>,
}

#[derive(Default)]
struct SnapshotState {
    seq: i64,
    loaded: bool,
    rows: HashMap<i64, ProviderRow>,
    details: ProviderDetails,
    built: Arc<Snapshot>,
}

pub struct Placement {
    pub db: Db,
    pub config: PlacementConfig,
    enforcer: Arc<policy::Enforcer>,
    names: RwLock<Names>,
    snapshot: tokio::sync::Mutex<SnapshotState>,
    consumer_types: RwLock<HashMap<String, i64>>,
    allocation_writes: std::sync::Mutex<WriteQueue>,
}

/// Allocation writes waiting for the writer task. Claims that arrive while a
/// transaction commits are applied together in the next one, each inside its
/// own savepoint, so concurrent claims share one commit (and one fsync).
#[derive(Default)]
struct WriteQueue {
    jobs: Vec<WriteJob>,
    running: bool,
}

struct WriteJob {
    writes: Vec<ConsumerAllocations>,
    reshape: Option<ReshapeInventories>,
    done: tokio::sync::oneshot::Sender<ApiResult<()>>,
}

/// At most this many allocation writes share one transaction.
const MAX_WRITE_BATCH: usize = 64;

/// What one applied allocation write leaves for the end of its transaction.
struct AppliedWrite {
    touched: Vec<i64>,
    consumer_types: Vec<(String, i64)>,
}

/// One provider's allocations of one consumer in a write.
#[derive(Clone, Debug)]
pub struct ProviderAllocation {
    pub provider_uuid: String,
    pub resources: Vec<(String, i64)>,
}

/// What a write says about one consumer.
#[derive(Clone, Debug)]
pub struct ConsumerAllocations {
    pub consumer_uuid: String,
    pub project_id: Option<String>,
    pub user_id: Option<String>,
    /// `None`: generation not checked (before 1.28); `Some(None)`: the
    /// consumer must be new.
    pub consumer_generation: Option<Option<i64>>,
    pub consumer_type: Option<String>,
    pub allocations: Vec<ProviderAllocation>,
}

/// How an inventory write changes a provider's inventories.
pub enum InventoryChange {
    ReplaceAll(Vec<InventoryRow>),
    Upsert(InventoryRow),
    Delete(i64),
}

impl Placement {
    pub fn new(db: Db, config: PlacementConfig, enforcer: Arc<policy::Enforcer>) -> Placement {
        Placement {
            db,
            config,
            enforcer,
            names: RwLock::new(Names::default()),
            snapshot: tokio::sync::Mutex::new(SnapshotState::default()),
            consumer_types: RwLock::new(HashMap::new()),
            allocation_writes: std::sync::Mutex::new(WriteQueue::default()),
        }
    }

    /// Adds the standard traits the database lacks; run at start-up.
    pub async fn init(&self) -> anyhow::Result<()> {
        q::ensure_names_row(&self.db).await?;
        q::ensure_traits(&self.db, STANDARD_TRAITS).await?;
        self.reload_names().await.map_err(|e| anyhow::anyhow!(e.message))?;
        Ok(())
    }

    pub fn enforce(&self, ctx: &RequestContext, rule: &str, target: &Value) -> ApiResult<()> {
        let target = match target {
            Value::Object(m) => {
                Value::Object(m.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), v.clone())).collect())
            }
            other => other.clone(),
        };
        match self.enforcer.enforce(rule, &ctx.credentials(), &target) {
            Ok(()) => Ok(()),
            Err(_) => Err(perr(StatusCode::FORBIDDEN, format!("Policy does not allow {rule} to be performed."))),
        }
    }

    // ---------- names ----------

    async fn reload_names(&self) -> ApiResult<()> {
        // The version first: a change after it only causes another reload.
        let version = q::names_version(&self.db).await.map_err(db_err)?;
        let classes = q::custom_classes(&self.db).await.map_err(db_err)?;
        let traits = q::all_traits(&self.db).await.map_err(db_err)?;
        let mut n = self.names.write().expect("names lock");
        n.version = version;
        n.classes = classes.iter().map(|(id, name, _)| (name.clone(), *id)).collect();
        n.class_names = classes.into_iter().map(|(id, name, _)| (id, name)).collect();
        n.traits = traits.iter().map(|(id, name)| (name.clone(), *id)).collect();
        n.trait_names = traits.into_iter().collect();
        Ok(())
    }

    /// Reloads the names if a custom class or trait changed since they were loaded.
    async fn fresh_names(&self) -> ApiResult<()> {
        let version = q::names_version(&self.db).await.map_err(db_err)?;
        if self.names.read().expect("names lock").version != version {
            self.reload_names().await?;
        }
        Ok(())
    }

    fn standard_class_id(name: &str) -> Option<i64> {
        STANDARD_RESOURCE_CLASSES.iter().position(|c| *c == name).map(|i| i as i64)
    }

    /// The id of a resource class, or None when there is no such class.
    pub async fn class_id(&self, name: &str) -> ApiResult<Option<i64>> {
        if let Some(id) = Self::standard_class_id(name) {
            return Ok(Some(id));
        }
        if !name.starts_with("CUSTOM_") {
            return Ok(None);
        }
        self.fresh_names().await?;
        Ok(self.names.read().expect("names lock").classes.get(name).copied())
    }

    pub fn class_name(&self, id: i64) -> String {
        if id < CUSTOM_RESOURCE_CLASS_ID_START {
            return STANDARD_RESOURCE_CLASSES.get(id as usize).map(|s| s.to_string()).unwrap_or_default();
        }
        self.names.read().expect("names lock").class_names.get(&id).cloned().unwrap_or_default()
    }

    /// Makes sure every id in `ids` has a name here (after another controller created it).
    pub async fn know_classes(&self, ids: impl IntoIterator<Item = i64>) -> ApiResult<()> {
        if ids.into_iter().any(|id| id >= CUSTOM_RESOURCE_CLASS_ID_START) {
            self.fresh_names().await?;
        }
        Ok(())
    }

    pub async fn all_classes(&self) -> ApiResult<Vec<(String, String)>> {
        let custom = q::custom_classes(&self.db).await.map_err(db_err)?;
        let mut out: Vec<(String, String)> =
            STANDARD_RESOURCE_CLASSES.iter().map(|c| (c.to_string(), String::new())).collect();
        out.extend(custom.into_iter().map(|(_, n, u)| (n, u)));
        Ok(out)
    }

    pub async fn create_class(&self, name: &str) -> ApiResult<bool> {
        if self.class_id(name).await?.is_some() {
            return Ok(false);
        }
        match q::insert_class(&self.db, name).await {
            Ok(_) => {}
            Err(DbError::Conflict) => return Ok(false),
            Err(e) => return Err(db_err(e)),
        }
        self.reload_names().await?;
        Ok(true)
    }

    pub async fn rename_class(&self, id: i64, name: &str) -> ApiResult<bool> {
        match q::rename_class(&self.db, id, name).await {
            Ok(()) => {}
            Err(DbError::Conflict) => return Ok(false),
            Err(e) => return Err(db_err(e)),
        }
        self.reload_names().await?;
        Ok(true)
    }

    pub async fn delete_class(&self, id: i64) -> ApiResult<bool> {
        let ok = q::delete_class(&self.db, id).await.map_err(db_err)?;
        if ok {
            self.reload_names().await?;
        }
        Ok(ok)
    }

    pub async fn trait_id(&self, name: &str) -> ApiResult<Option<i64>> {
        Ok(self.trait_ids(&[name.to_string()]).await?.ok().and_then(|ids| ids.first().copied()))
    }

    /// Ids of the named traits, or the names that do not exist.
    pub async fn trait_ids(&self, names: &[String]) -> ApiResult<Result<Vec<i64>, Vec<String>>> {
        let lookup = |n: &Names| -> (Vec<i64>, Vec<String>) {
            let mut ids = Vec::new();
            let mut missing = Vec::new();
            for name in names {
                match n.traits.get(name) {
                    Some(id) => ids.push(*id),
                    None => missing.push(name.clone()),
                }
            }
            (ids, missing)
        };
        let (ids, missing) = lookup(&self.names.read().expect("names lock"));
        if missing.is_empty() && !names.iter().any(|n| !is_standard_trait(n)) {
            return Ok(Ok(ids));
        }
        self.fresh_names().await?;
        let (ids, missing) = lookup(&self.names.read().expect("names lock"));
        Ok(if missing.is_empty() { Ok(ids) } else { Err(missing) })
    }

    /// Makes sure every trait id has a name here (after another controller created it).
    pub async fn know_traits(&self, ids: impl IntoIterator<Item = i64>) -> ApiResult<()> {
        let custom_or_unknown = {
            let n = self.names.read().expect("names lock");
            ids.into_iter().any(|id| n.trait_names.get(&id).is_none_or(|name| !is_standard_trait(name)))
        };
        if custom_or_unknown {
            self.fresh_names().await?;
        }
        Ok(())
    }

    pub fn trait_name(&self, id: i64) -> String {
        self.names.read().expect("names lock").trait_names.get(&id).cloned().unwrap_or_default()
    }

    pub async fn list_traits(&self) -> ApiResult<Vec<(i64, String)>> {
        q::all_traits(&self.db).await.map_err(db_err)
    }

    pub async fn create_trait(&self, name: &str) -> ApiResult<bool> {
        let created = q::insert_trait(&self.db, name).await.map_err(db_err)?;
        if created {
            self.reload_names().await?;
        }
        Ok(created)
    }

    pub async fn delete_trait(&self, name: &str) -> ApiResult<Option<bool>> {
        let r = q::delete_trait(&self.db, name).await.map_err(db_err)?;
        if r == Some(true) {
            self.reload_names().await?;
        }
        Ok(r)
    }

    /// A consumer type's id, made when new. Types are never deleted, so the
    /// id is kept once known.
    async fn consumer_type_id(&self, tx: &mut db::sqlx::AnyConnection, name: &str) -> ApiResult<i64> {
        if let Some(id) = self.consumer_types.read().expect("consumer types lock").get(name) {
            return Ok(*id);
        }
        let id = q::ensure_consumer_type(tx, name).await.map_err(db_err)?;
        Ok(id)
    }

    /// Remembers consumer types once their transaction committed.
    fn remember_consumer_types(&self, known: Vec<(String, i64)>) {
        let mut m = self.consumer_types.write().expect("consumer types lock");
        m.extend(known);
    }

    // ---------- the snapshot ----------

    /// Every provider as it is now, for allocation candidates and filtered
    /// provider lists. Cheap when nothing changed since the last call: one
    /// query for the change sequence; otherwise only changed providers are
    /// reloaded.
    pub async fn snapshot(&self) -> ApiResult<Arc<Snapshot>> {
        let (seq, pruned_below) = q::state(&self.db).await.map_err(db_err)?;
        let mut st = self.snapshot.lock().await;
        if st.loaded && st.seq == seq {
            return Ok(st.built.clone());
        }
        if !st.loaded || st.seq < pruned_below {
            let rows = q::all_providers(&self.db).await.map_err(db_err)?;
            let details = q::provider_details(&self.db, None).await.map_err(db_err)?;
            st.rows = rows.into_iter().map(|r| (r.id, r)).collect();
            st.details = details;
        } else {
            let changed = q::changed_since(&self.db, st.seq).await.map_err(db_err)?;
            let rows = q::providers_by_ids(&self.db, &changed).await.map_err(db_err)?;
            let details = q::provider_details(&self.db, Some(&changed)).await.map_err(db_err)?;
            for id in &changed {
                st.rows.remove(id);
                st.details.inventories.remove(id);
                st.details.traits.remove(id);
                st.details.aggregates.remove(id);
            }
            let changed_set: HashSet<i64> = changed.iter().copied().collect();
            st.details.usages.retain(|(rp, _), _| !changed_set.contains(rp));
            for r in rows {
                st.rows.insert(r.id, r);
            }
            let ProviderDetails { inventories, usages, traits, aggregates } = details;
            st.details.inventories.extend(inventories);
            st.details.usages.extend(usages);
            st.details.traits.extend(traits);
            st.details.aggregates.extend(aggregates);
        }
        let built = Arc::new(build_snapshot(
            &st.rows,
            &st.details,
            self.names.read().expect("names lock").traits.get("MISC_SHARES_VIA_AGGREGATE").copied(),
        ));
        st.built = built.clone();
        st.seq = seq;
        st.loaded = true;
        Ok(built)
    }

    // ---------- providers ----------

    pub async fn get_provider(&self, uuid: &str) -> ApiResult<Option<ProviderRow>> {
        q::get_provider_ro(&self.db, uuid).await.map_err(db_err)
    }

    pub async fn create_provider(&self, uuid: &str, name: &str, parent_uuid: Option<&str>) -> ApiResult<ProviderRow> {
        let fail = |reason: &str| {
            bad(format!(
                "Unable to create resource provider \"{name}\", {uuid}: Object action create failed because: {reason}"
            ))
        };
        if parent_uuid == Some(uuid) {
            return Err(fail(
                "parent provider UUID cannot be same as UUID. Please set parent provider UUID to None if there is no parent.",
            ));
        }
        let mut tx = q::begin(&self.db).await.map_err(db_err)?;
        let seq = q::bump(&mut tx).await.map_err(db_err)?;
        let parent = match parent_uuid {
            Some(p) => match q::get_provider(&mut tx, p).await.map_err(db_err)? {
                Some(p) => Some(p),
                None => return Err(fail("parent provider UUID does not exist.")),
            },
            None => None,
        };
        let dup_uuid = q::get_provider(&mut tx, uuid).await.map_err(db_err)?.is_some();
        let dup_name = self.provider_name_taken(&mut tx, name, None).await?;
        if dup_uuid || dup_name {
            let mut d = Vec::new();
            if dup_uuid {
                d.push(format!("uuid: {uuid}"));
            }
            if dup_name {
                d.push(format!("name: {name}"));
            }
            return Err(conflict(format!("Conflicting resource provider {} already exists.", d.join(", ")))
                .with_code(DUPLICATE_NAME));
        }
        let id = match q::insert_provider(&mut tx, uuid, name, parent.as_ref()).await {
            Ok(id) => id,
            Err(DbError::Conflict) => {
                return Err(conflict(format!("Conflicting resource provider name: {name} already exists."))
                    .with_code(DUPLICATE_NAME))
            }
            Err(e) => return Err(db_err(e)),
        };
        q::log_changes(&mut tx, seq, &[id]).await.map_err(db_err)?;
        let row = q::get_provider(&mut tx, uuid).await.map_err(db_err)?.expect("just inserted");
        tx.commit().await.map_err(|e| db_err(DbError::from_sqlx(e)))?;
        Ok(row)
    }

    async fn provider_name_taken(
        &self,
        tx: &mut db::sqlx::AnyConnection,
        name: &str,
        except: Option<i64>,
    ) -> ApiResult<bool> {
        let id: Option<i64> = db::sqlx::query_scalar("SELECT id FROM placement_resource_providers WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| db_err(DbError::from_sqlx(e)))?;
        Ok(id.is_some_and(|id| Some(id) != except))
    }

    /// Renames and/or re-parents a provider. `parent` is `None` when the
    /// request did not mention `parent_provider_uuid`.
    pub async fn update_provider(
        &self,
        uuid: &str,
        name: Option<&str>,
        parent: Option<Option<&str>>,
        allow_reparenting: bool,
    ) -> ApiResult<ProviderRow> {
        let fail = |action: &str, reason: &str| {
            bad(format!("Unable to save resource provider {uuid}: Object action {action} failed because: {reason}"))
        };
        let mut tx = q::begin(&self.db).await.map_err(db_err)?;
        let seq = q::bump(&mut tx).await.map_err(db_err)?;
        let Some(me) = q::get_provider(&mut tx, uuid).await.map_err(db_err)? else {
            return Err(not_found(format!("No resource provider with uuid {uuid} found")));
        };
        let mut parent_id = me.parent_id;
        let mut root_id = me.root_id;
        let mut subtree: Vec<i64> = Vec::new();
        if let Some(new_parent) = parent {
            match new_parent {
                Some(p) => {
                    let Some(pr) = q::get_provider(&mut tx, p).await.map_err(db_err)? else {
                        return Err(fail("create", "parent provider UUID does not exist."));
                    };
                    if me.parent_id.is_some() && me.parent_id != Some(pr.id) && !allow_reparenting {
                        return Err(fail("update", "re-parenting a provider is not currently allowed."));
                    }
                    if me.parent_id.is_none() && !allow_reparenting && pr.id != me.id {
                        // Giving a root a parent was always allowed.
                    }
                    subtree = q::subtree(&mut tx, me.id, me.root_id).await.map_err(db_err)?;
                    if subtree.contains(&pr.id) {
                        return Err(fail("update", "creating loop in the provider tree is not allowed."));
                    }
                    parent_id = Some(pr.id);
                    root_id = pr.root_id;
                }
                None => {
                    if me.parent_id.is_some() {
                        if !allow_reparenting {
                            return Err(fail("update", "un-parenting a provider is not currently allowed."));
                        }
                        subtree = q::subtree(&mut tx, me.id, me.root_id).await.map_err(db_err)?;
                        parent_id = None;
                        root_id = me.id;
                    }
                }
            }
        }
        let new_name = name.unwrap_or(&me.name);
        if new_name != me.name && self.provider_name_taken(&mut tx, new_name, Some(me.id)).await? {
            return Err(
                conflict(format!("Conflicting resource provider {new_name} already exists.")).with_code(DUPLICATE_NAME)
            );
        }
        match q::update_provider(&mut tx, me.id, new_name, parent_id, root_id).await {
            Ok(()) => {}
            Err(DbError::Conflict) => {
                return Err(conflict(format!("Conflicting resource provider {new_name} already exists."))
                    .with_code(DUPLICATE_NAME))
            }
            Err(e) => return Err(db_err(e)),
        }
        if !subtree.is_empty() {
            q::set_root(&mut tx, &subtree, root_id).await.map_err(db_err)?;
        }
        subtree.push(me.id);
        q::log_changes(&mut tx, seq, &subtree).await.map_err(db_err)?;
        let row = q::get_provider(&mut tx, uuid).await.map_err(db_err)?.expect("exists");
        tx.commit().await.map_err(|e| db_err(DbError::from_sqlx(e)))?;
        Ok(row)
    }

    pub async fn delete_provider(&self, uuid: &str) -> ApiResult<()> {
        let mut tx = q::begin(&self.db).await.map_err(db_err)?;
        let seq = q::bump(&mut tx).await.map_err(db_err)?;
        let Some(me) = q::get_provider(&mut tx, uuid).await.map_err(db_err)? else {
            return Err(not_found(format!("No resource provider with uuid {uuid} found for delete")));
        };
        if q::has_children(&mut tx, me.id).await.map_err(db_err)? {
            return Err(conflict(format!(
                "Unable to delete parent resource provider {uuid}: It has child resource providers."
            ))
            .with_code(PROVIDER_CANNOT_DELETE_PARENT));
        }
        if q::has_allocations(&mut tx, me.id).await.map_err(db_err)? {
            return Err(conflict(format!(
                "Unable to delete resource provider {uuid}: Resource provider has allocations."
            ))
            .with_code(PROVIDER_IN_USE));
        }
        q::delete_provider(&mut tx, me.id).await.map_err(db_err)?;
        q::log_changes(&mut tx, seq, &[me.id]).await.map_err(db_err)?;
        tx.commit().await.map_err(|e| db_err(DbError::from_sqlx(e)))?;
        Ok(())
    }

    // ---------- inventories ----------

    /// Applies an inventory change after checking the provider generation
    /// (when given) and that no removed class is in use. Returns the
    /// provider (new generation) and its inventories.
    pub async fn change_inventories(
        &self,
        uuid: &str,
        generation: Option<i64>,
        change: InventoryChange,
    ) -> ApiResult<(ProviderRow, Vec<InventoryRow>)> {
        let mut tx = q::begin(&self.db).await.map_err(db_err)?;
        let seq = q::bump(&mut tx).await.map_err(db_err)?;
        let Some(rp) = q::get_provider(&mut tx, uuid).await.map_err(db_err)? else {
            return Err(not_found(format!("No resource provider with uuid {uuid} found")));
        };
        if let Some(g) = generation {
            if g != rp.generation {
                return Err(conflict("resource provider generation conflict").with_code(CONCURRENT_UPDATE));
            }
        }
        let current = q::inventories(&mut tx, rp.id).await.map_err(db_err)?;
        let (to_delete, to_write): (Vec<i64>, Vec<InventoryRow>) = match change {
            InventoryChange::ReplaceAll(new) => {
                let keep: HashSet<i64> = new.iter().map(|i| i.resource_class_id).collect();
                (current.iter().map(|i| i.resource_class_id).filter(|c| !keep.contains(c)).collect(), new)
            }
            InventoryChange::Upsert(inv) => (Vec::new(), vec![inv]),
            InventoryChange::Delete(rc) => {
                if !current.iter().any(|i| i.resource_class_id == rc) {
                    return Err(not_found(format!(
                        "No inventory of class {} found for delete: No inventory of class {} found.",
                        self.class_name(rc),
                        self.class_name(rc)
                    )));
                }
                (vec![rc], Vec::new())
            }
        };
        let in_use = q::classes_in_use(&mut tx, rp.id, &to_delete).await.map_err(db_err)?;
        if !in_use.is_empty() {
            let names: Vec<String> = in_use.iter().map(|c| self.class_name(*c)).collect();
            return Err(conflict(format!(
                "Inventory for '{}' on resource provider '{uuid}' in use.",
                names.join(", ")
            ))
            .with_code(INVENTORY_INUSE));
        }
        for rc in &to_delete {
            q::delete_inventory(&mut tx, rp.id, *rc).await.map_err(db_err)?;
        }
        for inv in &to_write {
            q::upsert_inventory(&mut tx, rp.id, inv).await.map_err(db_err)?;
        }
        if !q::increment_generation(&mut tx, rp.id, rp.generation).await.map_err(db_err)? {
            return Err(conflict(
                "update conflict: Another thread concurrently updated the resource provider data. Please retry your update",
            )
            .with_code(CONCURRENT_UPDATE));
        }
        q::log_changes(&mut tx, seq, &[rp.id]).await.map_err(db_err)?;
        let rp = q::get_provider(&mut tx, uuid).await.map_err(db_err)?.expect("exists");
        let invs = q::inventories(&mut tx, rp.id).await.map_err(db_err)?;
        tx.commit().await.map_err(|e| db_err(DbError::from_sqlx(e)))?;
        Ok((rp, invs))
    }

    // ---------- traits and aggregates of a provider ----------

    /// Replaces a provider's traits (generation checked). Returns the new generation.
    pub async fn set_provider_traits(&self, uuid: &str, generation: i64, trait_ids: &[i64]) -> ApiResult<i64> {
        let mut tx = q::begin(&self.db).await.map_err(db_err)?;
        let seq = q::bump(&mut tx).await.map_err(db_err)?;
        let Some(rp) = q::get_provider(&mut tx, uuid).await.map_err(db_err)? else {
            return Err(not_found(format!("No resource provider with uuid {uuid} found")));
        };
        if rp.generation != generation {
            return Err(conflict(
                "Resource provider's generation already changed. Please update the generation and try again.",
            )
            .with_code(CONCURRENT_UPDATE));
        }
        let mut ids = trait_ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        q::set_provider_traits(&mut tx, rp.id, &ids).await.map_err(db_err)?;
        if !q::increment_generation(&mut tx, rp.id, rp.generation).await.map_err(db_err)? {
            return Err(conflict(
                "Another thread concurrently updated the resource provider data. Please retry your update",
            )
            .with_code(CONCURRENT_UPDATE));
        }
        q::log_changes(&mut tx, seq, &[rp.id]).await.map_err(db_err)?;
        tx.commit().await.map_err(|e| db_err(DbError::from_sqlx(e)))?;
        Ok(rp.generation + 1)
    }

    /// A provider's generation and aggregates; None when it does not exist.
    pub async fn provider_aggregates(&self, uuid: &str) -> ApiResult<Option<(i64, Vec<String>)>> {
        let Some(rp) = self.get_provider(uuid).await? else { return Ok(None) };
        let mut conn = self.db.reader().acquire().await.map_err(|e| db_err(DbError::from_sqlx(e)))?;
        let aggs = q::provider_aggregates(&mut conn, rp.id).await.map_err(db_err)?;
        Ok(Some((rp.generation, aggs)))
    }

    /// Replaces a provider's aggregates; the generation is checked and
    /// bumped only when given (1.19). Returns the provider's generation after.
    pub async fn set_provider_aggregates(
        &self,
        uuid: &str,
        generation: Option<i64>,
        aggs: &[String],
    ) -> ApiResult<i64> {
        let mut tx = q::begin(&self.db).await.map_err(db_err)?;
        let seq = q::bump(&mut tx).await.map_err(db_err)?;
        let Some(rp) = q::get_provider(&mut tx, uuid).await.map_err(db_err)? else {
            return Err(not_found(format!("No resource provider with uuid {uuid} found")));
        };
        if let Some(g) = generation {
            if rp.generation != g {
                return Err(conflict(
                    "Resource provider's generation already changed. Please update the generation and try again.",
                )
                .with_code(CONCURRENT_UPDATE));
            }
        }
        let mut list: Vec<String> = aggs.iter().map(|a| normalize_uuid(a)).collect();
        list.sort();
        list.dedup();
        q::set_provider_aggregates(&mut tx, rp.id, &list).await.map_err(db_err)?;
        let mut new_gen = rp.generation;
        if generation.is_some() {
            if !q::increment_generation(&mut tx, rp.id, rp.generation).await.map_err(db_err)? {
                return Err(conflict(
                    "Update conflict: Another thread concurrently updated the resource provider data. Please retry your update",
                )
                .with_code(CONCURRENT_UPDATE));
            }
            new_gen += 1;
        }
        q::log_changes(&mut tx, seq, &[rp.id]).await.map_err(db_err)?;
        tx.commit().await.map_err(|e| db_err(DbError::from_sqlx(e)))?;
        Ok(new_gen)
    }

    // ---------- allocations ----------

    /// Replaces the allocations of every consumer in `writes` at once,
    /// checking capacity, inventory constraints and generations. Nothing is
    /// written unless everything passes.
    pub async fn set_allocations(
        self: &Arc<Self>,
        writes: &[ConsumerAllocations],
        reshape: Option<ReshapeInventories>,
    ) -> ApiResult<()> {
        let (done, result) = tokio::sync::oneshot::channel();
        let start_writer = {
            let mut queue = self.allocation_writes.lock().expect("allocation write queue lock");
            queue.jobs.push(WriteJob { writes: writes.to_vec(), reshape, done });
            !std::mem::replace(&mut queue.running, true)
        };
        if start_writer {
            let me = self.clone();
            tokio::spawn(async move { me.run_allocation_writes().await });
        }
        result.await.unwrap_or_else(|_| {
            Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The allocation writer stopped before answering; the allocations may not have been written. Read them back, then retry.",
            ))
        })
    }

    /// The writer task: takes queued allocation writes in batches until none
    /// is left. A panic fails only the writes of its batch (their callers get
    /// an error), not the queue.
    async fn run_allocation_writes(self: Arc<Self>) {
        loop {
            let jobs: Vec<WriteJob> = {
                let mut queue = self.allocation_writes.lock().expect("allocation write queue lock");
                if queue.jobs.is_empty() {
                    queue.running = false;
                    return;
                }
                let n = queue.jobs.len().min(MAX_WRITE_BATCH);
                queue.jobs.drain(..n).collect()
            };
            let batch = std::panic::AssertUnwindSafe(self.write_allocation_batch(jobs));
            if futures_util::FutureExt::catch_unwind(batch).await.is_err() {
                tracing::error!("an allocation write batch panicked; its callers got a 500 and may retry");
            }
        }
    }

    /// One transaction for a batch of allocation writes. Plain claims are
    /// checked and applied in memory against state read once for the whole
    /// batch, then written in a few statements; reshapes and writes naming a
    /// new consumer type go one by one, each in its own savepoint. A write
    /// that fails is answered with its own error; the others commit together.
    async fn write_allocation_batch(&self, jobs: Vec<WriteJob>) {
        let mut tx = match q::begin(&self.db).await {
            Ok(tx) => tx,
            Err(e) => return fail_all(jobs, db_err(e)),
        };
        let seq = match q::bump(&mut tx).await {
            Ok(seq) => seq,
            Err(e) => return fail_all(jobs, db_err(e)),
        };
        let in_memory: Vec<bool> = jobs.iter().map(|j| self.claim_in_memory(j)).collect();
        let mut results: Vec<Option<ApiResult<AppliedWrite>>> = jobs.iter().map(|_| None).collect();

        if in_memory.iter().any(|m| *m) {
            let claims: Vec<&WriteJob> = jobs.iter().zip(&in_memory).filter(|(_, m)| **m).map(|(j, _)| j).collect();
            let mut state = match ClaimState::load(&mut tx, &claims).await {
                Ok(st) => st,
                Err(e) => return fail_all(jobs, db_err(e)),
            };
            for (i, job) in jobs.iter().enumerate().filter(|(i, _)| in_memory[*i]) {
                results[i] = Some(match self.plan_claim(&state, &job.writes).await {
                    Ok(plan) => Ok(state.apply(&job.writes, plan)),
                    Err(e) => Err(e),
                });
            }
            match state.flush(&mut tx, self.db.backend() == db::Backend::Sqlite).await {
                Ok(true) => {}
                Ok(false) => {
                    return fail_all(
                        jobs,
                        conflict("Inventory and/or allocations changed while attempting to allocate: Another thread concurrently updated the data. Please retry your update").with_code(CONCURRENT_UPDATE),
                    )
                }
                Err(e) => return fail_all(jobs, db_err(e)),
            }
        }

        let alone = jobs.len() == 1;
        for (i, job) in jobs.iter().enumerate().filter(|(i, _)| !in_memory[*i]) {
            let result = if alone {
                self.apply_allocations(&mut tx, &job.writes, job.reshape.as_ref()).await
            } else {
                match db::sqlx::Acquire::begin(&mut *tx).await {
                    Err(e) => Err(db_err(DbError::from_sqlx(e))),
                    Ok(mut savepoint) => {
                        let r = self.apply_allocations(&mut savepoint, &job.writes, job.reshape.as_ref()).await;
                        let end = if r.is_ok() { savepoint.commit().await } else { savepoint.rollback().await };
                        match end {
                            Ok(()) => r,
                            // The transaction is unusable now: fail the whole batch.
                            Err(e) => return fail_all(jobs, db_err(DbError::from_sqlx(e))),
                        }
                    }
                }
            };
            results[i] = Some(result);
        }

        let results: Vec<ApiResult<AppliedWrite>> =
            results.into_iter().map(|r| r.expect("every job answered")).collect();
        let touched: Vec<i64> = results.iter().flatten().flat_map(|a| a.touched.iter().copied()).collect();
        if results.iter().any(|r| r.is_ok()) {
            if !touched.is_empty() {
                if let Err(e) = q::log_changes(&mut tx, seq, &touched).await {
                    return fail_all(jobs, db_err(e));
                }
            }
            if let Err(e) = tx.commit().await {
                return fail_all(jobs, db_err(DbError::from_sqlx(e)));
            }
        } else if let Err(e) = tx.rollback().await {
            tracing::warn!(error = %e, "cannot roll back a failed allocation write");
        }
        for (job, result) in jobs.into_iter().zip(results) {
            let answer = result.map(|applied| self.remember_consumer_types(applied.consumer_types));
            let _ = job.done.send(answer);
        }
    }

    /// Whether a write can be checked in memory: no reshape, consumer types
    /// already known, each consumer named once.
    fn claim_in_memory(&self, job: &WriteJob) -> bool {
        if job.reshape.is_some() {
            return false;
        }
        let known = self.consumer_types.read().expect("consumer types lock");
        let mut seen = HashSet::new();
        job.writes.iter().all(|w| {
            seen.insert(w.consumer_uuid.as_str()) && w.consumer_type.as_ref().is_none_or(|t| known.contains_key(t))
        })
    }

    /// The project and user a write gives its consumer, with the configured
    /// stand-ins for writes before microversion 1.8.
    fn consumer_owner(&self, w: &ConsumerAllocations) -> (String, String) {
        let project = w.project_id.clone().unwrap_or_else(|| self.config.incomplete_consumer_project_id.clone());
        let user = match (&w.project_id, &w.user_id) {
            (Some(_), Some(u)) => u.clone(),
            _ => self.config.incomplete_consumer_user_id.clone(),
        };
        (project, user)
    }

    /// Checks one claim against the batch's state as earlier claims left it.
    async fn plan_claim(&self, st: &ClaimState, writes: &[ConsumerAllocations]) -> ApiResult<ClaimPlan> {
        let mut consumers: Vec<(ConsumerRow, i64, bool)> = Vec::with_capacity(writes.len());
        for w in writes {
            let (project, user) = self.consumer_owner(w);
            let type_id = w
                .consumer_type
                .as_ref()
                .and_then(|t| self.consumer_types.read().expect("consumer types lock").get(t).copied());
            let existing = st.consumers.get(&w.consumer_uuid).cloned().flatten();
            consumers.push(prepare_consumer(w, existing, project, user, type_id)?);
        }
        let mut providers: BTreeMap<String, ProviderRow> = BTreeMap::new();
        for a in writes.iter().flat_map(|w| &w.allocations) {
            if providers.contains_key(&a.provider_uuid) {
                continue;
            }
            let Some(p) = st.providers.get(&a.provider_uuid) else {
                return Err(bad(format!(
                    "Allocation for resource provider '{}' that does not exist.",
                    a.provider_uuid
                )));
            };
            providers.insert(a.provider_uuid.clone(), p.clone());
        }
        let wanted = self.wanted_allocations(writes, &providers).await?;
        let mut inv_cache: HashMap<i64, Vec<InventoryRow>> = HashMap::new();
        let mut prev_usage: HashMap<(i64, i64), i64> = HashMap::new();
        for rp in providers.values() {
            let invs = st.inventories.get(&rp.id).cloned().unwrap_or_default();
            for inv in &invs {
                let key = (rp.id, inv.resource_class_id);
                prev_usage.insert(key, st.usage.get(&key).copied().unwrap_or(0));
            }
            inv_cache.insert(rp.id, invs);
        }
        let mut usage_now = prev_usage.clone();
        for (w, (_, _, is_new)) in writes.iter().zip(&consumers) {
            if *is_new {
                continue;
            }
            for (rp, rc, used) in st.allocations.get(&w.consumer_uuid).into_iter().flatten() {
                if let Some(u) = usage_now.get_mut(&(*rp, *rc)) {
                    *u -= used;
                }
            }
        }
        self.check_capacity(&wanted, &providers, &inv_cache, &prev_usage, &usage_now)?;
        Ok(ClaimPlan { consumers, providers: providers.into_keys().collect(), wanted })
    }

    /// Every (write index, provider id, class id, amount) the writes ask for.
    async fn wanted_allocations(
        &self,
        writes: &[ConsumerAllocations],
        providers: &BTreeMap<String, ProviderRow>,
    ) -> ApiResult<Vec<(usize, i64, i64, i64)>> {
        let mut wanted = Vec::new();
        for (i, w) in writes.iter().enumerate() {
            for a in &w.allocations {
                let rp = &providers[&a.provider_uuid];
                for (rc_name, used) in &a.resources {
                    let Some(rc) = self.class_id(rc_name).await? else {
                        return Err(bad(format!(
                            "Unable to allocate inventory for consumer {}: No such resource class {rc_name}.",
                            w.consumer_uuid
                        )));
                    };
                    wanted.push((i, rp.id, rc, *used));
                }
            }
        }
        Ok(wanted)
    }

    /// Capacity and inventory constraints of `wanted`, against the usage
    /// before the write (`prev_usage`) and without the replaced allocations
    /// (`usage_now`).
    fn check_capacity(
        &self,
        wanted: &[(usize, i64, i64, i64)],
        providers: &BTreeMap<String, ProviderRow>,
        inv_cache: &HashMap<i64, Vec<InventoryRow>>,
        prev_usage: &HashMap<(i64, i64), i64>,
        usage_now: &HashMap<(i64, i64), i64>,
    ) -> ApiResult<()> {
        let mut sums: HashMap<(i64, i64), i64> = HashMap::new();
        for (_, rp, rc, used) in wanted {
            *sums.entry((*rp, *rc)).or_default() += used;
        }
        let uuid_of: HashMap<i64, &str> = providers.values().map(|p| (p.id, p.uuid.as_str())).collect();
        // A provider without any inventory of the requested classes.
        for rp in providers.values() {
            let classes: Vec<i64> = wanted.iter().filter(|w| w.1 == rp.id).map(|w| w.2).collect();
            let invs = &inv_cache[&rp.id];
            if !classes.is_empty() && !invs.iter().any(|i| classes.contains(&i.resource_class_id)) {
                let mut names: Vec<String> = classes.iter().map(|c| self.class_name(*c)).collect();
                names.dedup();
                return Err(conflict(format!(
                    "Unable to allocate inventory: Inventory for '{}' on resource provider '{}' invalid.",
                    names.join(", "),
                    rp.uuid
                )));
            }
        }
        for (_, rp, rc, used) in wanted {
            let rp_uuid = uuid_of[rp];
            let rc_name = self.class_name(*rc);
            let Some(inv) = inv_cache[rp].iter().find(|i| i.resource_class_id == *rc) else {
                return Err(conflict(format!(
                    "Unable to allocate inventory: Inventory for '{rc_name}' on resource provider '{rp_uuid}' invalid."
                )));
            };
            if *used < inv.min_unit || *used > inv.max_unit || used % inv.step_size != 0 {
                return Err(conflict(format!(
                    "Unable to allocate inventory: Unable to create allocation for '{rc_name}' on resource provider '{rp_uuid}'. The requested amount would violate inventory constraints."
                )));
            }
            let current = usage_now.get(&(*rp, *rc)).copied().unwrap_or(0);
            let all = sums[&(*rp, *rc)];
            let capacity = inv.capacity();
            if capacity < (current + used) as f64 || capacity < (current + all) as f64 {
                let prev = prev_usage.get(&(*rp, *rc)).copied();
                if prev.is_none_or(|p| current + all > p) {
                    return Err(conflict(format!(
                        "Unable to allocate inventory: Unable to create allocation for '{rc_name}' on resource provider '{rp_uuid}'. The requested amount would exceed the capacity."
                    )));
                }
            }
        }
        Ok(())
    }

    /// The checks and writes of one allocation write, inside `tx`.
    async fn apply_allocations(
        &self,
        tx: &mut db::sqlx::AnyConnection,
        writes: &[ConsumerAllocations],
        reshape: Option<&ReshapeInventories>,
    ) -> ApiResult<AppliedWrite> {
        let mut touched: Vec<i64> = Vec::new();
        let mut removed_inventory: Vec<(i64, String, i64)> = Vec::new();

        // Reshaper: inventories first, so the allocations below are checked against them.
        if let Some(reshape) = reshape {
            for (uuid, generation, invs) in &reshape.providers {
                let (uuid, generation) = (uuid.clone(), *generation);
                let Some(rp) = q::get_provider(tx, &uuid).await.map_err(db_err)? else {
                    return Err(bad(format!(
                        "Resource provider {uuid} in inventories not found: No resource provider with uuid {uuid} found"
                    ))
                    .with_code(RESOURCE_PROVIDER_NOT_FOUND));
                };
                if rp.generation != generation {
                    return Err(conflict(format!(
                        "resource provider generation conflict for provider {uuid}: actual: {}, given: {generation}",
                        rp.generation
                    ))
                    .with_code(CONCURRENT_UPDATE));
                }
                let current = q::inventories(tx, rp.id).await.map_err(db_err)?;
                let keep: HashSet<i64> = invs.iter().map(|i| i.resource_class_id).collect();
                for c in current.iter().filter(|c| !keep.contains(&c.resource_class_id)) {
                    q::delete_inventory(tx, rp.id, c.resource_class_id).await.map_err(db_err)?;
                    removed_inventory.push((rp.id, uuid.clone(), c.resource_class_id));
                }
                for inv in invs {
                    q::upsert_inventory(tx, rp.id, inv).await.map_err(db_err)?;
                }
                if !q::increment_generation(tx, rp.id, rp.generation).await.map_err(db_err)? {
                    return Err(conflict("update conflict: Another thread concurrently updated the resource provider data. Please retry your update").with_code(CONCURRENT_UPDATE));
                }
                touched.push(rp.id);
            }
        }

        // Consumers: generations, project/user/type.
        let mut consumers: Vec<(ConsumerRow, i64, bool)> = Vec::new(); // (row to write, seen generation, is new)
        for w in writes {
            let (project, user) = self.consumer_owner(w);
            let type_id = match &w.consumer_type {
                Some(t) => Some(self.consumer_type_id(tx, t).await?),
                None => None,
            };
            let existing = q::get_consumer(tx, &w.consumer_uuid).await.map_err(db_err)?;
            let (c, seen, is_new) = prepare_consumer(w, existing, project, user, type_id)?;
            if !is_new {
                consumers.push((c, seen, false));
                continue;
            }
            let c = match q::insert_consumer(tx, &c.uuid, &c.project_id, &c.user_id, c.consumer_type_id, c.generation)
                .await
            {
                Ok(c) => c,
                Err(DbError::Conflict) => {
                    return Err(conflict(
                        "Inventory and/or allocations changed while attempting to allocate: Another thread concurrently updated the data. Please retry your update",
                    )
                    .with_code(CONCURRENT_UPDATE))
                }
                Err(e) => return Err(db_err(e)),
            };
            consumers.push((c, 0, true));
        }

        // Providers named in the new allocations must exist.
        let mut providers: BTreeMap<String, ProviderRow> = BTreeMap::new();
        for w in writes {
            for a in &w.allocations {
                if providers.contains_key(&a.provider_uuid) {
                    continue;
                }
                match q::get_provider(tx, &a.provider_uuid).await.map_err(db_err)? {
                    Some(p) => {
                        providers.insert(a.provider_uuid.clone(), p);
                    }
                    None => {
                        return Err(bad(format!(
                            "Allocation for resource provider '{}' that does not exist.",
                            a.provider_uuid
                        )))
                    }
                }
            }
        }
        let wanted = self.wanted_allocations(writes, &providers).await?;

        // Inventories with their usage before this write, then drop the
        // consumers' old allocations (new consumers have none).
        let mut prev_usage: HashMap<(i64, i64), i64> = HashMap::new();
        let mut inv_cache: HashMap<i64, Vec<InventoryRow>> = HashMap::new();
        for rp in providers.values() {
            let rows = q::inventories_with_usage(tx, rp.id).await.map_err(db_err)?;
            for (inv, used) in &rows {
                prev_usage.insert((rp.id, inv.resource_class_id), *used);
            }
            inv_cache.insert(rp.id, rows.into_iter().map(|(inv, _)| inv).collect());
        }
        let mut usage_now = prev_usage.clone();
        for (w, (_, _, is_new)) in writes.iter().zip(consumers.iter()) {
            if *is_new {
                continue;
            }
            for (rp, rc, used) in q::delete_consumer_allocations(tx, &w.consumer_uuid).await.map_err(db_err)? {
                touched.push(rp);
                if let Some(u) = usage_now.get_mut(&(rp, rc)) {
                    *u -= used;
                }
            }
        }

        self.check_capacity(&wanted, &providers, &inv_cache, &prev_usage, &usage_now)?;
        let rows: Vec<(i64, &str, i64, i64)> =
            wanted.iter().map(|(i, rp, rc, used)| (*rp, writes[*i].consumer_uuid.as_str(), *rc, *used)).collect();
        q::insert_allocations(tx, &rows).await.map_err(db_err)?;
        for rp in providers.values() {
            if !q::increment_generation(tx, rp.id, rp.generation).await.map_err(db_err)? {
                return Err(conflict(
                    "Inventory and/or allocations changed while attempting to allocate: Another thread concurrently updated the resource provider data. Please retry your update",
                )
                .with_code(CONCURRENT_UPDATE));
            }
            touched.push(rp.id);
        }
        for (c, seen, is_new) in &consumers {
            if *is_new {
                continue;
            }
            let next = ConsumerRow { generation: seen + 1, ..c.clone() };
            if !q::set_consumer(tx, &next, *seen).await.map_err(db_err)? {
                return Err(conflict(
                    "Inventory and/or allocations changed while attempting to allocate: Another thread concurrently updated the data. Please retry your update",
                )
                .with_code(CONCURRENT_UPDATE));
            }
        }
        for (rp_id, rp_uuid, rc) in &removed_inventory {
            if !q::classes_in_use(tx, *rp_id, &[*rc]).await.map_err(db_err)?.is_empty() {
                return Err(conflict(format!(
                    "update conflict: Inventory for '{}' on resource provider '{rp_uuid}' in use.",
                    self.class_name(*rc)
                ))
                .with_code(INVENTORY_INUSE));
            }
        }
        let emptied: Vec<String> =
            writes.iter().filter(|w| w.allocations.is_empty()).map(|w| w.consumer_uuid.clone()).collect();
        q::delete_consumers_without_allocations(tx, &emptied).await.map_err(db_err)?;
        let consumer_types = consumers
            .iter()
            .zip(writes)
            .filter_map(|((c, _, _), w)| Some((w.consumer_type.clone()?, c.consumer_type_id?)))
            .collect();
        Ok(AppliedWrite { touched, consumer_types })
    }

    /// Deletes every allocation of a consumer; false when it has none.
    /// The providers a consumer has allocations against (for services that
    /// claim through this crate and must tell whether a claim is theirs).
    pub async fn consumer_providers(&self, consumer: &str) -> ApiResult<Vec<String>> {
        let mut conn = self.db.reader().acquire().await.map_err(|e| db_err(DbError::from_sqlx(e)))?;
        let allocs = q::consumer_allocations(&mut conn, consumer).await.map_err(db_err)?;
        let mut uuids: Vec<String> = allocs.into_iter().map(|a| a.resource_provider_uuid).collect();
        uuids.dedup();
        Ok(uuids)
    }

    /// A consumer's allocations, by provider (for services that move a
    /// claim from one consumer to another).
    pub async fn consumer_allocations(&self, consumer: &str) -> ApiResult<Vec<ProviderAllocation>> {
        let mut conn = self.db.reader().acquire().await.map_err(|e| db_err(DbError::from_sqlx(e)))?;
        let rows = q::consumer_allocations(&mut conn, consumer).await.map_err(db_err)?;
        let mut out: Vec<ProviderAllocation> = Vec::new();
        for r in rows {
            let name = self.class_name(r.resource_class_id);
            match out.iter_mut().find(|p| p.provider_uuid == r.resource_provider_uuid) {
                Some(p) => p.resources.push((name, r.used)),
                None => out.push(ProviderAllocation {
                    provider_uuid: r.resource_provider_uuid.clone(),
                    resources: vec![(name, r.used)],
                }),
            }
        }
        Ok(out)
    }

    pub async fn delete_allocations(&self, consumer: &str) -> ApiResult<bool> {
        let mut tx = q::begin(&self.db).await.map_err(db_err)?;
        q::bump(&mut tx).await.map_err(db_err)?;
        let rps: Vec<i64> =
            q::delete_consumer_allocations(&mut tx, consumer).await.map_err(db_err)?.into_iter().map(|r| r.0).collect();
        if rps.is_empty() {
            return Ok(false);
        }
        // The allocation triggers log the providers.
        q::delete_consumers_without_allocations(&mut tx, &[consumer.to_string()]).await.map_err(db_err)?;
        tx.commit().await.map_err(|e| db_err(DbError::from_sqlx(e)))?;
        Ok(true)
    }
}

/// A write's consumer as it will be: (row, generation seen, new), after the
/// consumer-generation check. A new consumer with allocations starts at
/// generation 1, as Placement's create (0) and increment (1) leave it.
fn prepare_consumer(
    w: &ConsumerAllocations,
    existing: Option<ConsumerRow>,
    project: String,
    user: String,
    type_id: Option<i64>,
) -> ApiResult<(ConsumerRow, i64, bool)> {
    match existing {
        Some(mut c) => {
            if let Some(expected) = w.consumer_generation {
                if expected != Some(c.generation) {
                    return Err(consumer_generation_conflict(c.generation, expected));
                }
            }
            let seen = c.generation;
            c.project_id = project;
            c.user_id = user;
            if type_id.is_some() {
                c.consumer_type_id = type_id;
            }
            Ok((c, seen, false))
        }
        None => {
            if let Some(Some(g)) = w.consumer_generation {
                return Err(conflict(format!("consumer generation conflict - expected null but got {g}"))
                    .with_code(CONCURRENT_UPDATE));
            }
            let c = ConsumerRow {
                id: 0,
                uuid: w.consumer_uuid.clone(),
                project_id: project,
                user_id: user,
                generation: i64::from(!w.allocations.is_empty()),
                consumer_type_id: type_id,
                updated_at: String::new(),
            };
            Ok((c, 0, true))
        }
    }
}

fn consumer_generation_conflict(actual: i64, expected: Option<i64>) -> ApiError {
    conflict(format!(
        "consumer generation conflict - expected {actual} but got {}",
        expected.map(|g| g.to_string()).unwrap_or_else(|| "None".into())
    ))
    .with_code(CONCURRENT_UPDATE)
}

/// A claim that passed its checks: each write's consumer as it will be
/// (row, generation seen, new), the providers it allocates from, and the
/// (write index, provider id, class id, amount) it asks for.
struct ClaimPlan {
    consumers: Vec<(ConsumerRow, i64, bool)>,
    providers: Vec<String>,
    wanted: Vec<(usize, i64, i64, i64)>,
}

/// What a batch of claims reads, loaded once and changed in memory as each
/// claim passes; `flush` writes the difference.
struct ClaimState {
    /// Consumer uuid -> the row now (`None`: no such consumer).
    consumers: HashMap<String, Option<ConsumerRow>>,
    initial_consumers: HashMap<String, Option<ConsumerRow>>,
    /// Consumer uuid -> (provider id, class id, used).
    allocations: HashMap<String, Vec<(i64, i64, i64)>>,
    changed_allocations: BTreeSet<String>,
    /// Providers named in the claims, by uuid, with their generation now.
    providers: HashMap<String, ProviderRow>,
    initial_generations: HashMap<i64, i64>,
    inventories: HashMap<i64, Vec<InventoryRow>>,
    usage: HashMap<(i64, i64), i64>,
}

impl ClaimState {
    async fn load(tx: &mut db::sqlx::AnyConnection, jobs: &[&WriteJob]) -> db::DbResult<ClaimState> {
        let writes = || jobs.iter().flat_map(|j| &j.writes);
        let consumer_uuids: Vec<String> =
            writes().map(|w| w.consumer_uuid.clone()).collect::<BTreeSet<_>>().into_iter().collect();
        let provider_uuids: Vec<String> = writes()
            .flat_map(|w| w.allocations.iter().map(|a| a.provider_uuid.clone()))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut consumers: HashMap<String, Option<ConsumerRow>> =
            consumer_uuids.iter().map(|u| (u.clone(), None)).collect();
        let found = q::consumers_by_uuids(tx, &consumer_uuids).await?;
        let existing: Vec<String> = found.iter().map(|c| c.uuid.clone()).collect();
        for c in found {
            consumers.insert(c.uuid.clone(), Some(c));
        }
        let mut allocations: HashMap<String, Vec<(i64, i64, i64)>> = HashMap::new();
        if !existing.is_empty() {
            for (consumer, rp, rc, used) in q::allocations_of_consumers(tx, &existing).await? {
                allocations.entry(consumer).or_default().push((rp, rc, used));
            }
        }
        let mut providers: HashMap<String, ProviderRow> = HashMap::new();
        let mut inventories: HashMap<i64, Vec<InventoryRow>> = HashMap::new();
        let mut usage = HashMap::new();
        if !provider_uuids.is_empty() {
            let (rows, invs) = q::providers_with_inventories(tx, &provider_uuids).await?;
            providers = rows.into_iter().map(|p| (p.uuid.clone(), p)).collect();
            for (inv, used) in invs {
                usage.insert((inv.resource_provider_id, inv.resource_class_id), used);
                inventories.entry(inv.resource_provider_id).or_default().push(inv);
            }
        }
        Ok(ClaimState {
            initial_consumers: consumers.clone(),
            consumers,
            allocations,
            changed_allocations: BTreeSet::new(),
            initial_generations: providers.values().map(|p| (p.id, p.generation)).collect(),
            providers,
            inventories,
            usage,
        })
    }

    /// Applies a checked claim to the state. The providers it touches need
    /// no explicit change log: the allocation triggers write it.
    fn apply(&mut self, writes: &[ConsumerAllocations], plan: ClaimPlan) -> AppliedWrite {
        for (i, (w, (mut c, seen, is_new))) in writes.iter().zip(plan.consumers).enumerate() {
            for (rp, rc, used) in self.allocations.remove(&w.consumer_uuid).unwrap_or_default() {
                if let Some(u) = self.usage.get_mut(&(rp, rc)) {
                    *u -= used;
                }
            }
            let new: Vec<(i64, i64, i64)> =
                plan.wanted.iter().filter(|x| x.0 == i).map(|(_, rp, rc, used)| (*rp, *rc, *used)).collect();
            for (rp, rc, used) in &new {
                *self.usage.entry((*rp, *rc)).or_default() += used;
            }
            self.changed_allocations.insert(w.consumer_uuid.clone());
            if new.is_empty() {
                self.consumers.insert(w.consumer_uuid.clone(), None);
            } else {
                if !is_new {
                    c.generation = seen + 1;
                }
                self.allocations.insert(w.consumer_uuid.clone(), new);
                self.consumers.insert(w.consumer_uuid.clone(), Some(c));
            }
        }
        for uuid in &plan.providers {
            if let Some(p) = self.providers.get_mut(uuid) {
                p.generation += 1;
            }
        }
        AppliedWrite { touched: Vec::new(), consumer_types: Vec::new() }
    }

    /// Writes what the applied claims changed; false when a consumer or
    /// provider changed underneath (then the transaction must not commit).
    async fn flush(&self, tx: &mut db::sqlx::AnyConnection, one_call: bool) -> db::DbResult<bool> {
        let changed: Vec<String> = self.changed_allocations.iter().cloned().collect();
        if changed.is_empty() {
            return Ok(true);
        }
        let mut inserts: Vec<&ConsumerRow> = Vec::new();
        let mut gone: Vec<String> = Vec::new();
        for uuid in &changed {
            match (&self.initial_consumers[uuid], &self.consumers[uuid]) {
                (None, Some(c)) => inserts.push(c),
                (Some(before), Some(c)) => {
                    if !q::set_consumer(tx, c, before.generation).await? {
                        return Ok(false);
                    }
                }
                (Some(_), None) => gone.push(uuid.clone()),
                (None, None) => {}
            }
        }
        let had_allocations: Vec<String> =
            changed.iter().filter(|u| self.initial_consumers[*u].is_some()).cloned().collect();
        if !had_allocations.is_empty() {
            q::delete_allocations_of_consumers(tx, &had_allocations).await?;
        }
        q::delete_consumers_without_allocations(tx, &gone).await?;
        let rows: Vec<(i64, &str, i64, i64)> = changed
            .iter()
            .flat_map(|u| {
                self.allocations.get(u).into_iter().flatten().map(move |(rp, rc, used)| (*rp, u.as_str(), *rc, *used))
            })
            .collect();
        let generations: Vec<(i64, i64, i64)> = self
            .providers
            .values()
            .filter(|p| self.initial_generations[&p.id] != p.generation)
            .map(|p| (p.id, self.initial_generations[&p.id], p.generation))
            .collect();
        q::write_claims(tx, one_call, &inserts, &rows, &generations).await
    }
}

fn fail_all(jobs: Vec<WriteJob>, error: ApiError) {
    for job in jobs {
        let _ = job.done.send(Err(error.clone()));
    }
}

/// The reshaper's inventories: (provider uuid, generation, inventories).
pub struct ReshapeInventories {
    pub providers: Vec<(String, i64, Vec<InventoryRow>)>,
}

pub fn normalize_uuid(s: &str) -> String {
    match uuid::Uuid::parse_str(s) {
        Ok(u) => u.hyphenated().to_string(),
        Err(_) => s.to_string(),
    }
}

fn build_snapshot(rows: &HashMap<i64, ProviderRow>, d: &ProviderDetails, shares_trait: Option<i64>) -> Snapshot {
    let mut ids: Vec<i64> = rows.keys().copied().collect();
    ids.sort_unstable();
    let index: HashMap<i64, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    let mut providers = Vec::with_capacity(ids.len());
    let mut by_uuid = HashMap::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        let r = &rows[id];
        let mut inventories: Vec<Inventory> = d
            .inventories
            .get(id)
            .map(|v| {
                v.iter()
                    .map(|inv| Inventory {
                        resource_class: inv.resource_class_id,
                        total: inv.total,
                        reserved: inv.reserved,
                        min_unit: inv.min_unit,
                        max_unit: inv.max_unit,
                        step_size: inv.step_size,
                        allocation_ratio: inv.allocation_ratio,
                        used: d.usages.get(&(*id, inv.resource_class_id)).copied().unwrap_or(0),
                    })
                    .collect()
            })
            .unwrap_or_default();
        inventories.sort_by_key(|i| i.resource_class);
        let mut traits = d.traits.get(id).cloned().unwrap_or_default();
        traits.sort_unstable();
        let mut aggregates = d.aggregates.get(id).cloned().unwrap_or_default();
        aggregates.sort();
        by_uuid.insert(r.uuid.clone(), i);
        providers.push(Provider {
            id: *id,
            uuid: r.uuid.clone(),
            name: r.name.clone(),
            generation: r.generation,
            parent: r.parent_id.and_then(|p| index.get(&p).copied()),
            root: index.get(&r.root_id).copied().unwrap_or(i),
            inventories,
            traits,
            aggregates,
        });
    }
    Snapshot { providers, by_uuid, shares_trait }
}
