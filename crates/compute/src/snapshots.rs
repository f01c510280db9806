//! Server snapshots in the Image service: the image record a snapshot,
//! backup or shelve creates (with Nova's properties), the data an agent
//! sends for it, backup rotation, and removing such an image again.

use api_core::{ApiError, ApiResult, RequestContext};
use axum::http::StatusCode;
use futures_util::Stream;
use serde_json::{json, Map, Value};

use crate::core::{db_err, Compute};
use crate::model::Instance;

/// Base-image properties a snapshot does not inherit (Nova's
/// `non_inheritable_image_properties` plus what identifies the base).
const NOT_INHERITED: &[&str] = &[
    "cache_in_nova",
    "bittorrent",
    "img_signature",
    "img_signature_hash_method",
    "img_signature_certificate_uuid",
    "img_signature_key_type",
    "instance_uuid",
    "image_type",
    "base_image_ref",
    "image_location",
    "image_state",
    "owner_project_name",
    "owner_user_name",
    "user_id",
    "backup_type",
];

/// The image owner's view: the project member who owns the server.
pub fn owner_ctx(project_id: &str, user_id: &str) -> RequestContext {
    RequestContext {
        request_id: format!("req-{}", uuid::Uuid::new_v4()),
        user_id: user_id.to_string(),
        project_id: Some(project_id.to_string()),
        roles: vec!["member".into(), "reader".into()],
        ..Default::default()
    }
}

fn admin_ctx() -> RequestContext {
    RequestContext {
        request_id: format!("req-{}", uuid::Uuid::new_v4()),
        roles: vec!["admin".into(), "member".into(), "reader".into()],
        ..Default::default()
    }
}

impl Compute {
    /// Creates the queued image a snapshot of `i` will fill: private, owned
    /// by the server's project, with the base image's properties and
    /// Nova's `instance_uuid`, `image_type`, `base_image_ref`... and the
    /// caller's `metadata` on top.
    pub async fn create_snapshot_image(
        &self,
        ctx: &RequestContext,
        i: &Instance,
        name: &str,
        image_type: &str,
        metadata: &Map<String, Value>,
    ) -> ApiResult<image::model::Image> {
        let mut body = Map::new();
        if let Ok(base) = self.images.get(&admin_ctx(), &i.image_ref).await {
            for (k, v) in &base.properties {
                if !NOT_INHERITED.contains(&k.as_str()) {
                    body.insert(k.clone(), json!(v));
                }
            }
            body.insert("min_ram".into(), json!(base.min_ram));
            body.insert("min_disk".into(), json!(base.min_disk.max(i.flavor.root_gb)));
        }
        body.insert("name".into(), json!(name));
        body.insert("visibility".into(), json!("private"));
        body.insert("instance_uuid".into(), json!(i.uuid));
        body.insert("user_id".into(), json!(ctx.user_id));
        body.insert("image_type".into(), json!(image_type));
        body.insert("base_image_ref".into(), json!(i.image_ref));
        body.insert("image_location".into(), json!("snapshot"));
        body.insert("image_state".into(), json!("available"));
        if let Some(p) = &ctx.project_name {
            body.insert("owner_project_name".into(), json!(p));
        }
        if !ctx.user_name.is_empty() {
            body.insert("owner_user_name".into(), json!(ctx.user_name));
        }
        for (k, v) in metadata {
            body.insert(k.clone(), v.clone());
        }
        let owner = owner_ctx(&i.project_id, &ctx.user_id);
        self.images.create(&owner, body).await.map_err(|e| {
            if e.status == StatusCode::FORBIDDEN || e.status == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(StatusCode::FORBIDDEN, format!("Quota exceeded for image: {}", e.message))
            } else {
                crate::core::bad(format!("Invalid image metadata. Error: {}", e.message))
            }
        })
    }

    /// Stores the data an agent sent for a snapshot image: only a queued
    /// image that a server snapshot created, as its owner.
    pub async fn store_snapshot<S, E>(
        &self,
        image_id: &str,
        disk_format: &str,
        container_format: &str,
        body: S,
        size: Option<u64>,
    ) -> ApiResult<()>
    where
        S: Stream<Item = Result<bytes::Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let im = self.images.get(&admin_ctx(), image_id).await?;
        let (Some(owner), Some(user)) = (im.owner.clone(), im.properties.get("user_id").cloned()) else {
            return Err(ApiError::conflict(format!("Image {image_id} is not a server snapshot")));
        };
        if !im.properties.contains_key("instance_uuid") || im.status != "queued" {
            return Err(ApiError::conflict(format!("Image {image_id} is not a server snapshot waiting for data")));
        }
        let ctx = owner_ctx(&owner, &user);
        let mut ops = Vec::new();
        for (field, value) in [("disk_format", disk_format), ("container_format", container_format)] {
            let current = if field == "disk_format" { &im.disk_format } else { &im.container_format };
            if current.as_deref() != Some(value) {
                ops.push(image::core::PatchOp {
                    op: if current.is_some() { "replace" } else { "add" }.into(),
                    path: vec![field.into()],
                    value: Some(json!(value)),
                });
            }
        }
        if !ops.is_empty() {
            self.images.update(&ctx, image_id, ops, false).await?;
        }
        self.images.upload(&ctx, image_id, body, size).await
    }

    /// Deletes a snapshot image of a server's project; one already gone is fine.
    pub async fn delete_snapshot_image(&self, project_id: &str, user_id: &str, image_id: &str) -> ApiResult<()> {
        match self.images.delete(&owner_ctx(project_id, user_id), image_id).await {
            Ok(()) => Ok(()),
            Err(e) if e.status == StatusCode::NOT_FOUND => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Keeps the `rotation` newest backups of `backup_type` of a server
    /// (`newest` first: image times have whole seconds) and deletes the
    /// others (Nova's `_rotate_backups`).
    pub async fn rotate_backups(
        &self,
        i: &Instance,
        backup_type: &str,
        rotation: usize,
        newest: &str,
    ) -> ApiResult<usize> {
        let mut backups: Vec<image::model::Image> =
            image::db::visible_images(&self.images.db, Some(&i.project_id), false)
                .await
                .map_err(db_err)?
                .into_iter()
                .filter(|im| {
                    im.owner.as_deref() == Some(i.project_id.as_str())
                        && im.properties.get("instance_uuid") == Some(&i.uuid)
                        && im.properties.get("image_type").map(String::as_str) == Some("backup")
                        && im.properties.get("backup_type").map(String::as_str) == Some(backup_type)
                })
                .collect();
        backups.sort_by(|a, b| {
            (b.id == newest)
                .cmp(&(a.id == newest))
                .then_with(|| b.created_at.cmp(&a.created_at))
                .then_with(|| b.id.cmp(&a.id))
        });
        let mut deleted = 0;
        for im in backups.iter().skip(rotation) {
            self.delete_snapshot_image(&i.project_id, &i.user_id, &im.id).await?;
            deleted += 1;
        }
        Ok(deleted)
    }
}
