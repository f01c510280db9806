//! The image domain: visibility and policy, the status machine, JSON-patch
//! updates, list filters, uploads and downloads. No HTTP types beyond the
//! status codes of its errors, no SQL (that is `db`).

use std::collections::BTreeMap;
use std::sync::Arc;

use api_core::{ApiError, ApiResult, RequestContext};
use axum::http::StatusCode;
use db::{Db, DbError};
use futures_util::{Stream, StreamExt};
use md5::Digest;
use serde_json::{json, Map, Value};

use crate::config::ImageConfig;
use crate::db as q;
use crate::inspect::{check_declared, Inspector};
use crate::model::*;
use crate::policies::names;
use crate::store::{DataReader, FilesystemStore, ImageStore};

/// A webob error as Glance sends it: `explanation` is the message.
pub fn gerr(status: StatusCode, explanation: impl AsRef<str>) -> ApiError {
    ApiError::new(status, format!("{}<br /><br />\n\n\n", explanation.as_ref()))
}

/// A webob error whose text goes in the detail, after the class's default explanation.
pub fn gdetail(status: StatusCode, detail: impl AsRef<str>) -> ApiError {
    let explanation = match status.as_u16() {
        400 => {
            "The server could not comply with the request since\r\nit is either malformed or otherwise incorrect.\r\n"
        }
        403 => "Access was denied to this resource.",
        404 => "The resource could not be found.",
        409 => "There was a conflict when trying to complete your request.",
        413 => "The body of your request was too large for this server.",
        _ => "",
    };
    ApiError::new(status, format!("{explanation}<br /><br />\n{}\n\n", detail.as_ref()))
}

pub fn bad(msg: impl AsRef<str>) -> ApiError {
    gerr(StatusCode::BAD_REQUEST, msg)
}

pub(crate) fn db_error(e: DbError) -> ApiError {
    db_err(e)
}

fn db_err(e: DbError) -> ApiError {
    tracing::error!(error = %e, "image database error");
    gerr(
        StatusCode::INTERNAL_SERVER_ERROR,
        "The server has either erred or is incapable of performing\r\nthe requested operation.\r\n",
    )
}

fn not_found(id: &str) -> ApiError {
    gerr(StatusCode::NOT_FOUND, format!("No image found with ID {id}"))
}

/// Base attributes: everything else in a create body or a patch path is a
/// custom property.
const BASE_PROPERTIES: &[&str] = &[
    "checksum",
    "created_at",
    "container_format",
    "disk_format",
    "id",
    "min_disk",
    "min_ram",
    "name",
    "size",
    "virtual_size",
    "status",
    "tags",
    "owner",
    "updated_at",
    "visibility",
    "protected",
    "os_hidden",
];
const READONLY_ON_CREATE: &[&str] =
    &["created_at", "updated_at", "status", "checksum", "os_hash_algo", "os_hash_value", "size", "virtual_size"];
const READONLY_ON_PATCH: &[&str] = &[
    "created_at",
    "updated_at",
    "status",
    "checksum",
    "size",
    "virtual_size",
    "direct_url",
    "self",
    "file",
    "schema",
    "id",
    "os_hash_algo",
    "os_hash_value",
];
const RESERVED: &[&str] = &["location", "deleted", "deleted_at"];

/// Keys a patch may not touch at all (403 before any schema check).
pub fn is_protected_key(key: &str) -> bool {
    READONLY_ON_PATCH.contains(&key) || is_reserved(key)
}

fn is_reserved(key: &str) -> bool {
    RESERVED.contains(&key) || key.starts_with("os_glance")
}

/// One operation of a JSON-patch update.
#[derive(Clone, Debug)]
pub struct PatchOp {
    pub op: String,
    pub path: Vec<String>,
    pub value: Option<Value>,
}

/// The two digests of image data: md5 on the caller's thread, sha512 on a
/// blocking-pool thread fed chunk by chunk, so hashing costs the time of
/// the slower digest rather than the sum of both.
struct Digests {
    md5: md5::Md5,
    to_sha: tokio::sync::mpsc::Sender<bytes::Bytes>,
    sha: tokio::task::JoinHandle<String>,
}

impl Digests {
    fn new() -> Digests {
        let (to_sha, mut chunks) = tokio::sync::mpsc::channel::<bytes::Bytes>(64);
        let sha = tokio::task::spawn_blocking(move || {
            let mut sha = sha2::Sha512::new();
            while let Some(chunk) = chunks.blocking_recv() {
                sha.update(&chunk);
            }
            format!("{:x}", sha.finalize())
        });
        Digests { md5: md5::Md5::new(), to_sha, sha }
    }

    async fn update(&mut self, chunk: &bytes::Bytes) {
        self.md5.update(chunk);
        // The worker only stops when this sender is dropped.
        let _ = self.to_sha.send(chunk.clone()).await;
    }

    /// (md5, sha512) in lowercase hex.
    async fn finish(self) -> (String, String) {
        let Digests { md5, to_sha, sha } = self;
        drop(to_sha);
        let sha512 = sha.await.expect("the sha512 worker does not panic");
        (format!("{:x}", md5.finalize()), sha512)
    }
}

/// What every stream of image data goes through on its way to a store,
/// chunk by chunk: the size cap (413), renewal of the lease that marks the
/// write alive, and a progress line every ten seconds.
pub(crate) struct Intake<'a> {
    images: &'a Images,
    id: &'a str,
    lease: Lease<'a>,
    pub(crate) size: u64,
    expected: Option<u64>,
    renewed: std::time::Instant,
    logged: std::time::Instant,
}

impl<'a> Intake<'a> {
    pub(crate) fn new(images: &'a Images, id: &'a str, lease: Lease<'a>, expected: Option<u64>) -> Intake<'a> {
        let now = std::time::Instant::now();
        Intake { images, id, lease, size: 0, expected, renewed: now, logged: now }
    }

    /// The next chunk, counted; a chunk that could not be read is the
    /// client's 400, one past the size cap a 413.
    pub(crate) async fn take<E: std::fmt::Display>(
        &mut self,
        chunk: Result<bytes::Bytes, E>,
    ) -> ApiResult<bytes::Bytes> {
        let id = self.id;
        let chunk = chunk.map_err(|e| {
            tracing::warn!(image_id = %id, error = %e, "image data cut off; the image goes back to queued");
            bad(format!("Error reading the image data: {e}"))
        })?;
        self.size += chunk.len() as u64;
        if self.size > self.images.config.image_size_cap {
            return Err(gerr(
                StatusCode::PAYLOAD_TOO_LARGE,
                "The incoming image is too large: The provided image is too large.",
            ));
        }
        if self.renewed.elapsed().as_secs() * 4 >= self.images.config.upload_lease_seconds {
            self.renewed = std::time::Instant::now();
            match self.lease {
                Lease::Upload => {
                    q::set_upload_lease(&self.images.db, id, Some(&self.images.lease_until())).await.map_err(db_err)?
                }
                Lease::Task(task) => task.renew(self.images).await.map_err(|e| gerr(StatusCode::CONFLICT, e))?,
            }
        }
        if self.logged.elapsed().as_secs() >= 10 {
            self.logged = std::time::Instant::now();
            tracing::info!(image_id = %id, bytes = self.size, expected = self.expected, "image data transfer in progress");
        }
        Ok(chunk)
    }
}

/// Which lease a long write keeps alive.
#[derive(Clone, Copy)]
pub(crate) enum Lease<'a> {
    Upload,
    Task(&'a crate::import::TaskLease),
}

/// Where a download starts and how much it sends.
pub struct Download {
    pub image: Image,
    pub data: Option<(DataReader, u64, u64)>, // (reader, offset, length)
}

/// What a list asks for, parsed.
#[derive(Clone, Debug, Default)]
pub struct ListQuery {
    pub limit: Option<i64>,
    pub marker: Option<String>,
    pub sort: Vec<(String, bool)>, // (key, ascending)
    pub filters: Vec<(String, String)>,
    pub tags: Vec<String>,
    pub visibility: Option<String>,
    pub member_status: String,
}

pub struct Images {
    pub db: Db,
    pub config: ImageConfig,
    enforcer: Arc<policy::Enforcer>,
    pub store: Arc<dyn ImageStore>,
    /// Staged data waiting for an import (`<dir>/<image id>`).
    pub(crate) staging: FilesystemStore,
    /// Quota limits, when `use_keystone_limits` is on.
    pub(crate) limits: Option<Arc<dyn crate::quota::LimitSource>>,
    /// Public URL of the service, e.g. `http://127.0.0.1:5000/image`.
    pub endpoint: String,
}

impl Images {
    pub fn new(
        db: Db,
        config: ImageConfig,
        enforcer: Arc<policy::Enforcer>,
        store: Arc<dyn ImageStore>,
        staging: FilesystemStore,
        endpoint: String,
    ) -> Images {
        Images { db, config, enforcer, store, staging, limits: None, endpoint }
    }

    /// Enforces quotas from `source` (when `use_keystone_limits` is on).
    pub fn with_limits(mut self, source: Arc<dyn crate::quota::LimitSource>) -> Images {
        if self.config.use_keystone_limits {
            self.limits = Some(source);
        }
        self
    }

    pub(crate) fn allowed(&self, ctx: &RequestContext, rule: &str, target: &Value) -> bool {
        let target = match target {
            Value::Object(m) => {
                Value::Object(m.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), v.clone())).collect())
            }
            other => other.clone(),
        };
        self.enforcer.enforce(rule, &ctx.credentials(), &target).is_ok()
    }

    fn is_admin(&self, ctx: &RequestContext) -> bool {
        ctx.has_role("admin")
    }

    /// The policy target of an image for this caller.
    async fn target(&self, ctx: &RequestContext, im: &Image) -> ApiResult<Value> {
        let member = match (&ctx.project_id, im.owner.as_deref()) {
            (Some(p), owner) if owner != Some(p.as_str()) => {
                q::get_member(&self.db, &im.id, p).await.map_err(db_err)?.map(|_| p.clone())
            }
            _ => None,
        };
        Ok(json!({"project_id": im.owner, "owner": im.owner, "visibility": im.visibility, "member_id": member}))
    }

    /// Glance's `_enforce`: a caller who may not even see the image gets 404.
    pub(crate) async fn enforce(&self, ctx: &RequestContext, rule: &str, im: &Image) -> ApiResult<()> {
        let target = self.target(ctx, im).await?;
        if self.allowed(ctx, rule, &target) {
            return Ok(());
        }
        if rule == names::GET_IMAGE || !self.allowed(ctx, names::GET_IMAGE, &target) {
            return Err(not_found(&im.id));
        }
        Err(gerr(StatusCode::FORBIDDEN, format!("You are not authorized to complete {rule} action.")))
    }

    async fn visible(&self, ctx: &RequestContext, im: &Image) -> ApiResult<bool> {
        if self.is_admin(ctx) || im.owner.is_none() || im.visibility == "public" || im.visibility == "community" {
            return Ok(true);
        }
        let Some(p) = &ctx.project_id else { return Ok(false) };
        if im.owner.as_deref() == Some(p.as_str()) {
            return Ok(true);
        }
        Ok(im.visibility == "shared" && q::get_member(&self.db, &im.id, p).await.map_err(db_err)?.is_some())
    }

    /// An image the caller may see (`get_image`), else 404 with `missing`'s text.
    pub async fn find(&self, ctx: &RequestContext, id: &str, missing: fn(&str) -> ApiError) -> ApiResult<Image> {
        let im = q::get_image_ro(&self.db, id).await.map_err(db_err)?.ok_or_else(|| missing(id))?;
        if !self.visible(ctx, &im).await? {
            return Err(missing(id));
        }
        self.enforce(ctx, names::GET_IMAGE, &im).await.map_err(|_| missing(id))?;
        Ok(im)
    }

    pub async fn get(&self, ctx: &RequestContext, id: &str) -> ApiResult<Image> {
        self.find(ctx, id, not_found).await
    }

    // ---------- create ----------

    pub async fn create(&self, ctx: &RequestContext, body: Map<String, Value>) -> ApiResult<Image> {
        let now = q::now();
        let mut im = Image {
            id: uuid::Uuid::new_v4().to_string(),
            name: None,
            disk_format: None,
            container_format: None,
            size: None,
            virtual_size: None,
            status: "queued".into(),
            checksum: None,
            os_hash_algo: None,
            os_hash_value: None,
            owner: ctx.project_id.clone(),
            visibility: "shared".into(),
            protected: false,
            os_hidden: false,
            min_ram: 0,
            min_disk: 0,
            location: None,
            created_at: now.clone(),
            updated_at: now,
            properties: BTreeMap::new(),
            tags: Vec::new(),
        };
        for k in body.keys() {
            if !BASE_PROPERTIES.contains(&k.as_str()) && k.len() > 255 {
                return Err(bad("Custom property should not be greater than 255 characters."));
            }
            if !BASE_PROPERTIES.contains(&k.as_str()) && is_reserved(k) {
                return Err(gdetail(StatusCode::FORBIDDEN, format!("Attribute '{k}' is reserved.")));
            }
            if READONLY_ON_CREATE.contains(&k.as_str()) {
                return Err(gerr(StatusCode::FORBIDDEN, format!("Attribute '{k}' is read-only.")));
            }
        }
        for (k, v) in body {
            match k.as_str() {
                "id" => im.id = v.as_str().unwrap_or_default().to_lowercase(),
                "owner" => im.owner = v.as_str().map(str::to_string),
                "tags" => {
                    let mut tags: Vec<String> =
                        v.as_array().into_iter().flatten().filter_map(|t| t.as_str().map(str::to_string)).collect();
                    tags.sort();
                    tags.dedup();
                    im.tags = tags;
                }
                _ => self.set_attribute(&mut im, &k, v)?,
            }
        }
        self.check_quotas(&im)?;
        self.check_quota(ctx, &[(crate::quota::IMAGE_COUNT_TOTAL, 1)]).await?;
        let target = json!({"project_id": im.owner, "owner": im.owner, "visibility": im.visibility});
        if !self.allowed(ctx, names::ADD_IMAGE, &target) {
            if im.owner.is_some() && im.owner != ctx.project_id {
                return Err(gdetail(
                    StatusCode::FORBIDDEN,
                    format!(
                        "You are not permitted to create images owned by '{}'",
                        im.owner.clone().unwrap_or_default()
                    ),
                ));
            }
            return Err(gerr(StatusCode::FORBIDDEN, "You are not authorized to complete add_image action."));
        }
        self.check_visibility_policy(ctx, &im)?;
        let mut tx = q::begin(&self.db).await.map_err(db_err)?;
        if q::id_exists(&mut tx, &im.id).await.map_err(db_err)? {
            return Err(gerr(StatusCode::CONFLICT, format!("Image ID {} already exists!", im.id)));
        }
        q::insert_image(&mut tx, &im).await.map_err(db_err)?;
        tx.commit().await.map_err(|e| db_err(DbError::from_sqlx(e)))?;
        Ok(im)
    }

    fn check_visibility_policy(&self, ctx: &RequestContext, im: &Image) -> ApiResult<()> {
        let target = json!({"project_id": im.owner, "owner": im.owner, "visibility": im.visibility});
        let rule = match im.visibility.as_str() {
            "public" => names::PUBLICIZE_IMAGE,
            "community" => names::COMMUNITIZE_IMAGE,
            _ => return Ok(()),
        };
        if self.allowed(ctx, rule, &target) {
            Ok(())
        } else {
            Err(gerr(StatusCode::FORBIDDEN, format!("You are not authorized to complete {rule} action.")))
        }
    }

    fn check_quotas(&self, im: &Image) -> ApiResult<()> {
        let tags = im.tags.len() as i64;
        if self.config.image_tag_quota >= 0 && tags > self.config.image_tag_quota {
            return Err(gerr(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "The limit has been exceeded on the number of allowed image tags. Attempted: {tags}, Maximum: {}",
                    self.config.image_tag_quota
                ),
            ));
        }
        let props = im.properties.keys().filter(|k| !k.starts_with("os_glance")).count() as i64;
        if self.config.image_property_quota >= 0 && props > self.config.image_property_quota {
            return Err(gerr(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "The limit has been exceeded on the number of allowed image properties. Attempted: {props}, Maximum: {}",
                    self.config.image_property_quota
                ),
            ));
        }
        Ok(())
    }

    /// Sets one attribute from a (schema-validated) JSON value.
    fn set_attribute(&self, im: &mut Image, key: &str, v: Value) -> ApiResult<()> {
        let int = |v: &Value, key: &str| -> ApiResult<i64> {
            let n = v.as_i64().unwrap_or_default();
            if n < 0 {
                return Err(bad(format!("Invalid value '{n}' for parameter '{key}': Cannot be a negative value")));
            }
            if n > 2_147_483_647 {
                return Err(bad(format!("'{key}' value out of range, must not exceed 2147483647.")));
            }
            Ok(n)
        };
        match key {
            "name" => im.name = v.as_str().map(str::to_string),
            "disk_format" => im.disk_format = v.as_str().map(str::to_string),
            "container_format" => im.container_format = v.as_str().map(str::to_string),
            "visibility" => im.visibility = v.as_str().unwrap_or("shared").to_string(),
            "protected" => im.protected = v.as_bool().unwrap_or_default(),
            "os_hidden" => im.os_hidden = v.as_bool().unwrap_or_default(),
            "min_ram" => im.min_ram = int(&v, key)?,
            "min_disk" => im.min_disk = int(&v, key)?,
            "owner" => im.owner = v.as_str().map(str::to_string),
            _ => {
                im.properties.insert(key.to_string(), v.as_str().unwrap_or_default().to_string());
            }
        }
        Ok(())
    }

    // ---------- update ----------

    /// Applies JSON-patch operations (already checked against the schema)
    /// in order, then saves once. `v20` is the older patch media type, where
    /// `add` of an existing property is a conflict.
    pub async fn update(&self, ctx: &RequestContext, id: &str, ops: Vec<PatchOp>, v20: bool) -> ApiResult<Image> {
        let mut im = self.get(ctx, id).await?;
        if ops.is_empty() {
            return Ok(im);
        }
        let before = im.clone();
        self.enforce(ctx, names::MODIFY_IMAGE, &before).await?;
        for op in ops {
            let key = op.path[0].clone();
            if READONLY_ON_PATCH.contains(&key.as_str()) {
                return Err(gerr(StatusCode::FORBIDDEN, format!("Attribute '{key}' is read-only.")));
            }
            if is_reserved(&key) {
                return Err(gerr(StatusCode::FORBIDDEN, format!("Attribute '{key}' is reserved.")));
            }
            if key == "locations" {
                return Err(gdetail(
                    StatusCode::FORBIDDEN,
                    format!("It's not allowed to {} locations if locations are invisible.", op.op),
                ));
            }
            let base = BASE_PROPERTIES.contains(&key.as_str());
            match op.op.as_str() {
                "replace" | "add" => {
                    if key == "owner" && op.op == "replace" && !self.is_admin(ctx) {
                        return Err(gdetail(StatusCode::FORBIDDEN, "Owner can't be updated by non admin."));
                    }
                    if op.op == "replace" && !base && !im.properties.contains_key(&key) {
                        return Err(gdetail(StatusCode::CONFLICT, format!("Property {key} does not exist.")));
                    }
                    if op.op == "add" && v20 && (base || im.properties.contains_key(&key)) {
                        return Err(gdetail(StatusCode::CONFLICT, format!("Property {key} already present.")));
                    }
                    if (key == "disk_format" || key == "container_format")
                        && !matches!(im.status.as_str(), "queued" | "importing")
                    {
                        return Err(gdetail(
                            StatusCode::FORBIDDEN,
                            format!("Attribute {key} can be only replaced for a queued image."),
                        ));
                    }
                    let value = op.value.unwrap_or(Value::Null);
                    if key == "tags" {
                        let mut tags: Vec<String> = value
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|t| t.as_str().map(str::to_string))
                            .collect();
                        tags.sort();
                        tags.dedup();
                        im.tags = tags;
                    } else {
                        self.set_attribute(&mut im, &key, value)?;
                    }
                    if key == "visibility" {
                        self.check_visibility_policy(ctx, &im)?;
                    }
                }
                "remove" => {
                    if base {
                        return Err(gdetail(StatusCode::FORBIDDEN, format!("Property {key} may not be removed.")));
                    }
                    if im.properties.remove(&key).is_none() {
                        return Err(gdetail(StatusCode::CONFLICT, format!("Property {key} does not exist.")));
                    }
                }
                other => return Err(bad(format!("Invalid operation: `{other}`"))),
            }
        }
        self.check_quotas(&im)?;
        im.updated_at = q::now();
        self.save(&im, &before.status).await?;
        Ok(im)
    }

    pub(crate) async fn save(&self, im: &Image, from_status: &str) -> ApiResult<()> {
        let mut tx = q::begin(&self.db).await.map_err(db_err)?;
        if !q::save_image(&mut tx, im, from_status).await.map_err(db_err)? {
            return Err(gerr(
                StatusCode::CONFLICT,
                format!("Image {} changed while the request ran (it is no longer {from_status}); retry.", im.id),
            ));
        }
        tx.commit().await.map_err(|e| db_err(DbError::from_sqlx(e)))?;
        Ok(())
    }

    // ---------- delete, actions, tags ----------

    pub async fn delete(&self, ctx: &RequestContext, id: &str) -> ApiResult<()> {
        let im = self
            .find(ctx, id, |id| gerr(StatusCode::NOT_FOUND, format!("Failed to find image {id} to delete")))
            .await?;
        self.enforce(ctx, names::DELETE_IMAGE, &im).await?;
        if im.protected {
            return Err(gerr(StatusCode::FORBIDDEN, format!("Image {id} is protected and cannot be deleted.")));
        }
        let mut tx = q::begin(&self.db).await.map_err(db_err)?;
        q::mark_deleted(&mut tx, id).await.map_err(db_err)?;
        tx.commit().await.map_err(|e| db_err(DbError::from_sqlx(e)))?;
        self.remove_staged(id).await;
        if let Some(loc) = &im.location {
            if let Err(e) = self.store.delete(loc).await {
                tracing::warn!(image_id = id, error = %e, "image deleted but its data could not be removed from the store; remove {loc} by hand");
            }
        }
        Ok(())
    }

    pub async fn deactivate(&self, ctx: &RequestContext, id: &str, deactivate: bool) -> ApiResult<()> {
        let mut im = self.get(ctx, id).await?;
        let (rule, from, to, verb) = if deactivate {
            (names::DEACTIVATE, "active", "deactivated", "deactivate")
        } else {
            (names::REACTIVATE, "deactivated", "active", "reactivate")
        };
        self.enforce(ctx, rule, &im).await?;
        if im.status == to {
            return Ok(());
        }
        if im.status != from {
            return Err(gerr(StatusCode::FORBIDDEN, format!("Not allowed to {verb} image in status '{}'", im.status)));
        }
        im.status = to.into();
        im.updated_at = q::now();
        self.save(&im, from).await
    }

    pub async fn add_tag(&self, ctx: &RequestContext, id: &str, tag: &str) -> ApiResult<()> {
        let mut im = self.find(ctx, id, |id| gerr(StatusCode::NOT_FOUND, format!("Image {id} not found."))).await?;
        self.enforce(ctx, names::MODIFY_IMAGE, &im).await?;
        if im.tags.iter().any(|t| t == tag) {
            return Ok(());
        }
        im.tags.push(tag.to_string());
        im.tags.sort();
        if self.config.image_tag_quota >= 0 && im.tags.len() as i64 > self.config.image_tag_quota {
            return Err(gerr(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "Image tag limit exceeded for image {id}: The limit has been exceeded on the number of allowed image tags. Attempted: {}, Maximum: {}:",
                    im.tags.len(),
                    self.config.image_tag_quota
                ),
            ));
        }
        let status = im.status.clone();
        im.updated_at = q::now();
        self.save(&im, &status).await
    }

    pub async fn delete_tag(&self, ctx: &RequestContext, id: &str, tag: &str) -> ApiResult<()> {
        let mut im = self.find(ctx, id, |id| gerr(StatusCode::NOT_FOUND, format!("Image {id} not found."))).await?;
        self.enforce(ctx, names::MODIFY_IMAGE, &im).await?;
        let before = im.tags.len();
        im.tags.retain(|t| t != tag);
        if im.tags.len() == before {
            return Err(gerr(StatusCode::NOT_FOUND, "The resource could not be found."));
        }
        let status = im.status.clone();
        im.updated_at = q::now();
        self.save(&im, &status).await
    }

    // ---------- list ----------

    /// One page of the images the caller may list, and the marker of the next page.
    pub async fn list(&self, ctx: &RequestContext, lq: &ListQuery) -> ApiResult<(Vec<Image>, Option<String>)> {
        let project = ctx.project_id.clone();
        let target = json!({"project_id": project, "owner": project});
        if !self.allowed(ctx, names::GET_IMAGES, &target) {
            return Err(gerr(StatusCode::FORBIDDEN, "You are not authorized to complete get_images action."));
        }
        let admin = self.is_admin(ctx);
        let all = q::visible_images(&self.db, project.as_deref(), admin).await.map_err(db_err)?;
        let memberships = match &project {
            Some(p) => q::memberships(&self.db, p).await.map_err(db_err)?,
            None => BTreeMap::new(),
        };
        let own = |im: &Image| project.is_some() && im.owner == project;
        let mut images: Vec<Image> = Vec::new();
        for im in all.iter() {
            if im.status == "killed" {
                continue;
            }
            // Shared images of others: only with a membership in the asked status.
            if !own(im) && !admin && im.visibility == "shared" {
                match memberships.get(&im.id) {
                    Some(s) if lq.member_status == "all" || *s == lq.member_status => {}
                    _ => continue,
                }
            }
            match lq.visibility.as_deref() {
                Some("all") => {}
                Some(v) if im.visibility != v => continue,
                Some(_) => {}
                None if im.visibility == "community" && !own(im) => continue,
                None => {}
            }
            if !lq.tags.iter().all(|t| im.tags.contains(t)) {
                continue;
            }
            if !matches_filters(im, &lq.filters)? {
                continue;
            }
            images.push(im.clone());
        }
        let mut keys = lq.sort.clone();
        let default_asc = if keys.len() == 1 { keys[0].1 } else { false };
        if keys.is_empty() {
            keys.push(("created_at".into(), false));
        }
        for k in ["created_at", "id"] {
            if !keys.iter().any(|(s, _)| s == k) {
                keys.push((k.to_string(), default_asc));
            }
        }
        images.sort_by(|a, b| api_core::pagination::compare_by_keys(a, b, &keys, sort_value));
        if let Some(marker) = &lq.marker {
            match images.iter().position(|im| &im.id == marker) {
                Some(i) => {
                    images.drain(..=i);
                }
                None => {
                    return Err(match all.iter().find(|im| &im.id == marker) {
                        Some(_) => bad(format!("No image found with ID {marker}")),
                        None => match q::get_image_ro(&self.db, marker).await.map_err(db_err)? {
                            Some(_) => {
                                gerr(StatusCode::FORBIDDEN, format!("Forbidding request, image {marker} not visible"))
                            }
                            None => bad(format!("No image found with ID {marker}")),
                        },
                    })
                }
            }
        }
        let limit = lq.limit.unwrap_or(self.config.limit_param_default).min(self.config.api_limit_max).max(0) as usize;
        let full = images.len() >= limit && limit > 0;
        images.truncate(limit);
        let next = if full { images.last().map(|im| im.id.clone()) } else { None };
        Ok((images, next))
    }

    // ---------- data ----------

    /// Streams an upload into the store, checking size, hashes and content
    /// on the way; the image becomes `active` only when all of it is stored.
    pub async fn upload<S, E>(&self, ctx: &RequestContext, id: &str, body: S, declared: Option<u64>) -> ApiResult<()>
    where
        S: Stream<Item = Result<bytes::Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        self.check_quota(ctx, &[(crate::quota::IMAGE_SIZE_TOTAL, crate::quota::mib(declared))]).await?;
        let mut im = self.get(ctx, id).await?;
        self.enforce(ctx, names::UPLOAD_IMAGE, &im).await?;
        if im.status != "queued" {
            return Err(gerr(
                StatusCode::CONFLICT,
                format!("Image status transition from {} to saving is not allowed", im.status),
            ));
        }
        match (&im.disk_format, &im.container_format) {
            (None, None) => {
                return Err(bad("Properties disk_format, container_format must be set prior to saving data."))
            }
            (None, _) => return Err(bad("Property disk_format must be set prior to saving data.")),
            (_, None) => return Err(bad("Property container_format must be set prior to saving data.")),
            _ => {}
        }
        im.status = "saving".into();
        im.updated_at = q::now();
        self.save(&im, "queued").await?;
        let lease = self.lease_until();
        q::set_upload_lease(&self.db, id, Some(&lease)).await.map_err(db_err)?;
        if let Err(e) = self.check_quota(ctx, &[(crate::quota::IMAGE_COUNT_UPLOADING, 0)]).await {
            self.restore_queued(id).await;
            return Err(e);
        }
        match self.receive(&mut im, body, "saving", Lease::Upload).await {
            Ok(()) => {
                q::set_upload_lease(&self.db, id, None).await.map_err(db_err)?;
                Ok(())
            }
            Err(e) => {
                self.restore_queued(id).await;
                Err(e)
            }
        }
    }

    pub(crate) fn lease_until(&self) -> String {
        let until = chrono::Utc::now() + chrono::Duration::seconds(self.config.upload_lease_seconds as i64);
        until.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    }

    /// Streams data into the store and makes the image `active` (from
    /// `from_status`), renewing the upload's or the import task's lease.
    pub(crate) async fn receive<S, E>(
        &self,
        im: &mut Image,
        mut body: S,
        from_status: &str,
        lease: Lease<'_>,
    ) -> ApiResult<()>
    where
        S: Stream<Item = Result<bytes::Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let id = im.id.clone();
        let mut writer = self.store.begin_write(&id).await.map_err(|e| store_error(&id, e))?;
        let mut digests = Digests::new();
        let mut inspector = Inspector::new();
        let mut intake = Intake::new(self, &id, lease, None);
        let result: ApiResult<()> = async {
            while let Some(chunk) = body.next().await {
                let chunk = intake.take(chunk).await?;
                digests.update(&chunk).await;
                inspector.feed(&chunk);
                writer.write(&chunk).await.map_err(|e| store_error(&id, e))?;
            }
            Ok(())
        }
        .await;
        if let Err(e) = result {
            let _ = writer.abort().await;
            return Err(e);
        }
        let inspection = inspector.finish();
        if im.container_format.as_deref() == Some("bare") && self.config.require_image_format_match {
            let declared = im.disk_format.clone().unwrap_or_default();
            if let Err(reason) = check_declared(&declared, &inspection) {
                let _ = writer.abort().await;
                tracing::warn!(image_id = %id, reason = %reason, "image data refused by the format inspector");
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    format!(
                        "The request media type application/octet-stream is not supported by this server.\n<br /><br />\nImage disk format {declared} does not match the uploaded data: {reason}"
                    ),
                ));
            }
        }
        if let Lease::Task(task) = lease {
            // Only the run that still holds the import may publish its data.
            if let Err(e) = task.renew(self).await {
                let _ = writer.abort().await;
                return Err(gerr(StatusCode::CONFLICT, e));
            }
        }
        let location = writer.commit().await.map_err(|e| store_error(&id, e))?;
        im.size = Some(intake.size as i64);
        let (md5, sha512) = digests.finish().await;
        im.checksum = Some(md5);
        im.os_hash_algo = Some("sha512".into());
        im.os_hash_value = Some(sha512);
        im.virtual_size = inspection.virtual_size.filter(|v| *v > 0).map(|v| v as i64);
        im.location = Some(location.clone());
        im.status = "active".into();
        im.updated_at = q::now();
        if let Err(e) = self.save(im, from_status).await {
            // Deleted (or reset) while uploading: the data has no image any more.
            let _ = self.store.delete(&location).await;
            return Err(if e.status == StatusCode::CONFLICT {
                gerr(
                    StatusCode::GONE,
                    format!("Image {id} could not be found after upload. The image may have been deleted during the upload, cleaning up the chunks uploaded."),
                )
            } else {
                e
            });
        }
        Ok(())
    }

    /// Puts an image whose upload, staging or import failed back to
    /// `queued`, without data (staged data included).
    pub(crate) async fn restore_queued(&self, id: &str) {
        if let Err(e) = self.store.discard_partial(id).await {
            tracing::warn!(image_id = id, error = %e, "cannot remove a partial upload from the store");
        }
        self.remove_staged(id).await;
        let Ok(Some(mut im)) = q::get_image_ro(&self.db, id).await else { return };
        let from = im.status.clone();
        if !["saving", "uploading", "importing"].contains(&from.as_str()) {
            return;
        }
        if from == "importing" {
            im.properties.insert("os_glance_importing_to_stores".into(), String::new());
            im.properties.insert("os_glance_failed_import".into(), String::new());
        }
        im.status = "queued".into();
        im.size = None;
        im.virtual_size = None;
        im.checksum = None;
        im.os_hash_algo = None;
        im.os_hash_value = None;
        im.location = None;
        im.updated_at = q::now();
        if let Err(e) = self.save(&im, &from).await {
            tracing::warn!(image_id = id, error = %e.message, "cannot put an image back to queued after a failed upload");
        }
        let _ = q::set_upload_lease(&self.db, id, None).await;
    }

    /// Uploads that a dead controller left in `saving` go back to `queued`.
    pub async fn recover_stale_uploads(&self) -> ApiResult<usize> {
        let now = q::now();
        let stale = q::stale_uploads(&self.db, &now).await.map_err(db_err)?;
        for id in &stale {
            tracing::warn!(image_id = %id, "an upload was cut off (its controller stopped); the image is queued again, upload its data anew");
            self.restore_queued(id).await;
        }
        Ok(stale.len())
    }

    /// The data of an image for a download, from `range` = (offset, length) on.
    pub async fn download(
        &self,
        ctx: &RequestContext,
        id: &str,
        range: impl FnOnce(u64) -> ApiResult<Option<(u64, u64)>>,
    ) -> ApiResult<(Download, bool)> {
        let im = self.get(ctx, id).await?;
        if im.status == "deactivated" && !self.is_admin(ctx) {
            return Err(gerr(
                StatusCode::FORBIDDEN,
                "The requested image has been deactivated. Image data download is forbidden.",
            ));
        }
        self.enforce(ctx, names::DOWNLOAD_IMAGE, &im).await?;
        let (Some(loc), Some(size)) = (im.location.clone(), im.size) else {
            return Ok((Download { image: im, data: None }, false));
        };
        let size = size as u64;
        let r = range(size)?;
        let (offset, length) = r.unwrap_or((0, size));
        let reader = match self.store.open(&loc, offset).await {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                tracing::warn!(image_id = id, "image data missing from the store");
                return Ok((Download { image: im, data: None }, false));
            }
            Err(e) => return Err(store_error(id, e)),
        };
        Ok((Download { image: im, data: Some((reader, offset, length)) }, r.is_some()))
    }

    /// Image data for another service (compute fetching a base image): a
    /// reader with the size and md5 checksum to verify it against.
    pub async fn open_data(&self, ctx: &RequestContext, id: &str) -> ApiResult<(DataReader, u64, String)> {
        let (d, _) = self.download(ctx, id, |_| Ok(None)).await?;
        match (d.data, d.image.checksum) {
            (Some((reader, _, len)), Some(sum)) => Ok((reader, len, sum)),
            _ => Err(gerr(StatusCode::NOT_FOUND, format!("Image {id} has no data."))),
        }
    }

    // ---------- members ----------

    async fn member_image(&self, ctx: &RequestContext, id: &str) -> ApiResult<Image> {
        self.find(ctx, id, |id| gerr(StatusCode::NOT_FOUND, format!("Image {id} not found."))).await
    }

    pub async fn add_member(&self, ctx: &RequestContext, id: &str, member: &str) -> ApiResult<Member> {
        let im = self.member_image(ctx, id).await?;
        self.enforce(ctx, names::ADD_MEMBER, &im).await?;
        if im.visibility != "shared" {
            return Err(gerr(StatusCode::FORBIDDEN, format!("Not allowed to create members for image {id}.")));
        }
        let now = q::now();
        let m = Member {
            image_id: id.into(),
            member: member.into(),
            status: "pending".into(),
            created_at: now.clone(),
            updated_at: now,
        };
        let mut tx = q::begin(&self.db).await.map_err(db_err)?;
        let count = q::count_members(&mut tx, id).await.map_err(db_err)?;
        if self.config.image_member_quota >= 0 && count >= self.config.image_member_quota {
            return Err(gerr(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "Image member limit exceeded for image {id}: The limit has been exceeded on the number of allowed image members for this image. Attempted: {}, Maximum: {}:",
                    count + 1,
                    self.config.image_member_quota
                ),
            ));
        }
        match q::insert_member(&mut tx, &m).await {
            Ok(()) => {}
            Err(DbError::Conflict) => {
                return Err(gerr(StatusCode::CONFLICT, format!("Member {member} is duplicated for image {id}")))
            }
            Err(e) => return Err(db_err(e)),
        }
        tx.commit().await.map_err(|e| db_err(DbError::from_sqlx(e)))?;
        Ok(m)
    }

    /// The members the caller may see: all for the owner (and admins), only
    /// its own membership for a member.
    pub async fn members(&self, ctx: &RequestContext, id: &str) -> ApiResult<Vec<Member>> {
        let im = self.member_image(ctx, id).await?;
        self.enforce(ctx, names::GET_MEMBERS, &im).await?;
        if im.visibility != "shared" {
            return Err(gerr(
                StatusCode::FORBIDDEN,
                format!("Not allowed to list members for image {id}: Only shared images have members."),
            ));
        }
        let all = q::members(&self.db, id).await.map_err(db_err)?;
        if self.is_admin(ctx) || (ctx.project_id.is_some() && im.owner == ctx.project_id) {
            return Ok(all);
        }
        Ok(all.into_iter().filter(|m| Some(&m.member) == ctx.project_id.as_ref()).collect())
    }

    pub async fn member(&self, ctx: &RequestContext, id: &str, member: &str) -> ApiResult<Member> {
        let missing =
            || gerr(StatusCode::NOT_FOUND, format!("{member} not found in the member list of the image {id}."));
        let list = self.members(ctx, id).await.map_err(|e| {
            if e.status == StatusCode::FORBIDDEN {
                gerr(StatusCode::NOT_FOUND, "Only shared images have members.")
            } else {
                e
            }
        })?;
        list.into_iter().find(|m| m.member == member).ok_or_else(missing)
    }

    pub async fn update_member(&self, ctx: &RequestContext, id: &str, member: &str, status: &str) -> ApiResult<Member> {
        let im = self.member_image(ctx, id).await?;
        let mut m = q::get_member(&self.db, id, member).await.map_err(db_err)?.ok_or_else(|| {
            gerr(StatusCode::NOT_FOUND, format!("{member} not found in the member list of the image {id}."))
        })?;
        let target =
            json!({"project_id": im.owner, "owner": im.owner, "visibility": im.visibility, "member_id": member});
        if !self.allowed(ctx, names::MODIFY_MEMBER, &target) {
            return Err(gerr(StatusCode::FORBIDDEN, "You are not authorized to complete modify_member action."));
        }
        if im.visibility != "shared" {
            return Err(gerr(StatusCode::FORBIDDEN, format!("Not allowed to update members for image {id}.")));
        }
        m.status = status.into();
        m.updated_at = q::now();
        q::update_member(&self.db, &m).await.map_err(db_err)?;
        Ok(m)
    }

    pub async fn delete_member(&self, ctx: &RequestContext, id: &str, member: &str) -> ApiResult<()> {
        let im = self.member_image(ctx, id).await?;
        self.enforce(ctx, names::DELETE_MEMBER, &im).await?;
        if im.visibility != "shared" {
            return Err(gerr(StatusCode::FORBIDDEN, format!("Not allowed to delete members for image {id}.")));
        }
        if !q::delete_member(&self.db, id, member).await.map_err(db_err)? {
            return Err(gerr(
                StatusCode::NOT_FOUND,
                format!("{member} not found in the member list of the image {id}."),
            ));
        }
        Ok(())
    }
}

fn store_error(id: &str, e: std::io::Error) -> ApiError {
    if e.raw_os_error() == Some(28) {
        tracing::error!(image_id = id, "the image store is full; free space in the store directory");
        return gerr(StatusCode::PAYLOAD_TOO_LARGE, format!("Image storage media is full: {e}"));
    }
    tracing::error!(image_id = id, error = %e, "image store error; check the store directory's permissions and disk");
    gerr(StatusCode::SERVICE_UNAVAILABLE, format!("Insufficient permissions on image storage media: {e}"))
}

/// A sortable value of an image for `key` (nulls first, numbers as numbers).
fn sort_value(im: &Image, key: &str) -> (i64, String) {
    match key {
        "size" => (im.size.unwrap_or(-1), String::new()),
        "name" => (0, im.name.clone().unwrap_or_default()),
        "status" => (0, im.status.clone()),
        "container_format" => (0, im.container_format.clone().unwrap_or_default()),
        "disk_format" => (0, im.disk_format.clone().unwrap_or_default()),
        "id" => (0, im.id.clone()),
        "updated_at" => (0, im.updated_at.clone()),
        _ => (0, im.created_at.clone()),
    }
}

/// Glance's `in:` values: comma separated, double quotes around values with commas.
fn split_in(value: &str) -> ApiResult<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = value.chars().peekable();
    let mut quoted = false;
    let mut after_quote = false;
    while let Some(c) = chars.next() {
        match c {
            '"' if !quoted && cur.is_empty() && !after_quote => quoted = true,
            '"' if !quoted => {
                return Err(bad(format!(
                    "Invalid filter value {value}. There is no comma before opening quotation mark."
                )))
            }
            '"' if quoted => {
                quoted = false;
                after_quote = true;
                if chars.peek().is_some_and(|n| *n != ',') {
                    return Err(bad(format!(
                        "Invalid filter value {value}. There is no comma after closing quotation mark."
                    )));
                }
            }
            ',' if !quoted => {
                out.push(std::mem::take(&mut cur));
                after_quote = false;
            }
            c => cur.push(c),
        }
    }
    if quoted {
        return Err(bad(format!("Invalid filter value {value}. The quote is not closed.")));
    }
    out.push(cur);
    Ok(out)
}

fn parse_time(s: &str, key: &str) -> ApiResult<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&chrono::Utc))
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").map(|n| n.and_utc()))
        .map_err(|_| bad(format!("Bad \"{key}\" query filter format. Use ISO 8601 DateTime notation.")))
}

/// Whether an image passes every list filter (Glance's rules per key).
fn matches_filters(im: &Image, filters: &[(String, String)]) -> ApiResult<bool> {
    for (key, value) in filters {
        let ok = match key.as_str() {
            "name" | "id" | "status" | "container_format" | "disk_format" => {
                let field = match key.as_str() {
                    "name" => im.name.clone().unwrap_or_default(),
                    "id" => im.id.clone(),
                    "status" => im.status.clone(),
                    "container_format" => im.container_format.clone().unwrap_or_default(),
                    _ => im.disk_format.clone().unwrap_or_default(),
                };
                match value.split_once(':') {
                    Some(("in", list)) => split_in(list)?.contains(&field),
                    Some(("eq", v)) => field == v,
                    Some((op, _)) => return Err(bad(format!("Unable to filter by unknown operator '{op}'."))),
                    None => field == *value,
                }
            }
            "created_at" | "updated_at" => {
                let field = if key == "created_at" { &im.created_at } else { &im.updated_at };
                let field = parse_time(field, key)?;
                let (op, when) = match value.split_once(':') {
                    Some((op @ ("gt" | "gte" | "lt" | "lte" | "eq" | "neq"), rest)) => (op, rest),
                    _ if parse_time(value, key).is_ok() => ("eq", value.as_str()),
                    Some(_) => return Err(bad("Unable to filter on a unknown operator.")),
                    None => ("eq", value.as_str()),
                };
                let when = parse_time(when, key)?;
                match op {
                    "gt" => field > when,
                    "gte" => field >= when,
                    "lt" => field < when,
                    "lte" => field <= when,
                    "neq" => field != when,
                    _ => field == when,
                }
            }
            k if k.ends_with("_min") || k.ends_with("_max") => {
                let n: i64 =
                    value.trim().parse().map_err(|_| bad("Unable to filter on a range with a non-numeric value."))?;
                let field = match &k[..k.len() - 4] {
                    "size" => im.size,
                    "virtual_size" => im.virtual_size,
                    "min_ram" => Some(im.min_ram),
                    "min_disk" => Some(im.min_disk),
                    _ => None,
                };
                match field {
                    Some(f) if k.ends_with("_min") => f >= n,
                    Some(f) => f <= n,
                    None => false,
                }
            }
            "owner" => im.owner.as_deref() == Some(value.as_str()),
            "protected" => {
                if value != "true" && value != "false" {
                    return Err(bad(format!(
                        "Invalid value '{value}' for 'protected' filter. Valid values are 'true' or 'false'."
                    )));
                }
                im.protected == (value == "true")
            }
            "os_hidden" => im.os_hidden == (value == "true"),
            "min_ram" => value.parse::<i64>().ok() == Some(im.min_ram),
            "min_disk" => value.parse::<i64>().ok() == Some(im.min_disk),
            "size" => value.parse::<i64>().ok() == im.size,
            "checksum" => im.checksum.as_deref() == Some(value.as_str()),
            "os_hash_value" => im.os_hash_value.as_deref() == Some(value.as_str()),
            _ => im.properties.get(key) == Some(value),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_values_with_quotes() {
        assert_eq!(split_in("a,b").unwrap(), vec!["a", "b"]);
        assert_eq!(split_in("\"a,b\",c").unwrap(), vec!["a,b", "c"]);
        assert!(split_in("\"a,b").unwrap_err().message.contains("The quote is not closed."));
        assert!(split_in("a\"b\"").unwrap_err().message.contains("no comma before opening"));
        assert!(split_in("\"a\"b").unwrap_err().message.contains("no comma after closing"));
    }
}
