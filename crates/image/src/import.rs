//! Interoperable image import: staging (`PUT /v2/images/{id}/stage`),
//! `POST /v2/images/{id}/import` with `glance-direct` and `web-download`,
//! the `image_conversion` step and the tasks that record every import.
//!
//! An import runs in the background under a lease kept in its task row. A
//! controller that dies mid-way leaves a task whose lease runs out; the
//! periodic [`Images::resume_stale_tasks`] runs it again from the start
//! (each step can be repeated: the staged data stays until the image is
//! active) or, after [`MAX_ATTEMPTS`] runs, fails it and puts the image
//! back to `queued`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use api_core::{ApiError, ApiResult, RequestContext};
use axum::http::StatusCode;
use db::DbError;
use futures_util::{Stream, StreamExt};
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;

use crate::config::ImportFilteringOpts;
use crate::core::{bad, gerr, Images, Intake, Lease};
use crate::db as q;
use crate::inspect::{check_declared, DiskFormat, Inspection, Inspector};
use crate::model::{Image, Task};
use crate::policies::names;
use crate::store::ImageStore;

/// The lease a run of a task holds. Renewals are compare-and-set, so a run
/// that lost its task (its lease ran out and another run took over) learns
/// it at its next renewal and stops without touching the image.
pub(crate) struct TaskLease {
    id: String,
    current: std::sync::Mutex<String>,
}

const LEASE_LOST: &str = "this run of the import lost its lease; another run carries on";

impl TaskLease {
    pub(crate) async fn renew(&self, images: &Images) -> Result<(), String> {
        let held = self.current.lock().expect("lease lock").clone();
        let until = images.lease_until();
        match q::renew_task_lease(&images.db, &self.id, &held, &until).await {
            Ok(true) => {
                *self.current.lock().expect("lease lock") = until;
                Ok(())
            }
            Ok(false) => Err(LEASE_LOST.into()),
            Err(e) => Err(format!("cannot renew the import's lease: {e}")),
        }
    }

    /// Whether this run still holds the task.
    async fn held(&self, images: &Images) -> bool {
        let held = self.current.lock().expect("lease lock").clone();
        matches!(q::get_task(&images.db, &self.id).await, Ok(Some(t)) if t.lease_until.as_deref() == Some(held.as_str()))
    }
}

/// Runs of one import before it counts as failed.
pub const MAX_ATTEMPTS: i64 = 3;

/// An import lock younger than this (minutes) holds; an older one is broken.
const LOCK_MINUTES: i64 = 60;
const LOCK_MINUTES_PENDING: i64 = 120;

fn db_err(e: DbError) -> ApiError {
    tracing::error!(error = %e, "image database error");
    gerr(
        StatusCode::INTERNAL_SERVER_ERROR,
        "The server has either erred or is incapable of performing\r\nthe requested operation.\r\n",
    )
}

fn conflict(msg: impl AsRef<str>) -> ApiError {
    gerr(StatusCode::CONFLICT, msg)
}

/// The reason in a webob-style message, without its markup.
fn plain(e: &ApiError) -> String {
    e.message.split("<br /><br />").map(str::trim).filter(|s| !s.is_empty()).last().unwrap_or_default().to_string()
}

fn age_minutes(ts: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(ts)
        .map(|t| (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_minutes())
        .unwrap_or(i64::MAX)
}

impl Images {
    pub fn import_methods(&self) -> &[String] {
        &self.config.enabled_import_methods
    }

    fn import_enabled(&self, method: &str) -> bool {
        self.config.enabled_import_methods.iter().any(|m| m == method)
    }

    pub(crate) fn staged_path(&self, id: &str) -> PathBuf {
        self.staging.final_path(id)
    }

    fn converted_path(&self, id: &str) -> PathBuf {
        self.staging.dir().join(format!("{id}.converted"))
    }

    /// Removes whatever the staging area holds for an image.
    pub(crate) async fn remove_staged(&self, id: &str) {
        let _ = self.staging.discard_partial(id).await;
        for path in [self.staged_path(id), self.converted_path(id)] {
            if let Err(e) = tokio::fs::remove_file(&path).await {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(image_id = id, error = %e, path = %path.display(), "cannot remove staged image data; remove it by hand");
                }
            }
        }
    }

    // ---------- stage ----------

    /// `PUT /v2/images/{id}/stage`: the data goes to the staging area and
    /// the image to `uploading`, ready for a `glance-direct` import.
    pub async fn stage<S, E>(&self, ctx: &RequestContext, id: &str, body: S, declared: Option<u64>) -> ApiResult<()>
    where
        S: Stream<Item = Result<bytes::Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        self.check_quota(ctx, &[(crate::quota::IMAGE_STAGE_TOTAL, crate::quota::mib(declared))]).await?;
        let mut im = self.get(ctx, id).await?;
        self.enforce(ctx, names::MODIFY_IMAGE, &im).await?;
        if im.status != "queued" {
            return Err(conflict(format!("Image status transition from {} to uploading is not allowed", im.status)));
        }
        im.status = "uploading".into();
        im.updated_at = q::now();
        self.save(&im, "queued").await?;
        q::set_upload_lease(&self.db, id, Some(&self.lease_until())).await.map_err(db_err)?;
        if let Err(e) = self.check_quota(ctx, &[(crate::quota::IMAGE_COUNT_UPLOADING, 0)]).await {
            self.restore_queued(id).await;
            return Err(e);
        }
        match self.receive_staged(id, body, declared).await {
            Ok(size) => {
                let mut im = q::get_image_ro(&self.db, id)
                    .await
                    .map_err(db_err)?
                    .ok_or_else(|| gerr(StatusCode::GONE, format!("Image {id} could not be found after upload.")))?;
                im.size = Some(size as i64);
                im.updated_at = q::now();
                if let Err(e) = self.save(&im, "uploading").await {
                    self.remove_staged(id).await;
                    return Err(e);
                }
                q::set_upload_lease(&self.db, id, None).await.map_err(db_err)?;
                Ok(())
            }
            Err(e) => {
                self.restore_queued(id).await;
                Err(e)
            }
        }
    }

    async fn receive_staged<S, E>(&self, id: &str, mut body: S, declared: Option<u64>) -> ApiResult<u64>
    where
        S: Stream<Item = Result<bytes::Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let mut writer = self.staging.begin_write(id).await.map_err(|e| staging_error(id, e))?;
        let mut intake = Intake::new(self, id, Lease::Upload, declared);
        let result: ApiResult<()> = async {
            while let Some(chunk) = body.next().await {
                let chunk = intake.take(chunk).await?;
                if let Some(d) = declared.filter(|d| intake.size > *d) {
                    return Err(bad(format!("Size exceeds: expected {d} bytes, got {} bytes", intake.size)));
                }
                writer.write(&chunk).await.map_err(|e| staging_error(id, e))?;
            }
            let size = intake.size;
            if let Some(d) = declared.filter(|d| *d != size) {
                return Err(bad(format!("Size mismatch: expected {d} bytes, got {size} bytes")));
            }
            Ok(())
        }
        .await;
        if let Err(e) = result {
            let _ = writer.abort().await;
            return Err(e);
        }
        writer.commit().await.map_err(|e| staging_error(id, e))?;
        Ok(intake.size)
    }

    // ---------- import ----------

    /// `POST /v2/images/{id}/import`: checks the request as Glance does,
    /// records a task holding the image's import lock, and starts it.
    pub async fn import(self: &Arc<Self>, ctx: &RequestContext, id: &str, body: &Value) -> ApiResult<()> {
        let method = body.get("method").filter(|m| !m.is_null());
        let Some(method) = method else { return Err(bad("Import request requires a 'method' field.")) };
        let name = match method.get("name") {
            None | Some(Value::Null) | Some(Value::Bool(false)) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => Some(other.to_string()),
        };
        let Some(name) = name else { return Err(bad("Import request requires a 'name' field.")) };
        if !self.import_enabled(&name) {
            return Err(bad(format!("Unknown import method name '{name}'.")));
        }
        for key in ["all_stores_must_succeed", "all_stores"] {
            if body.get(key).is_some_and(|v| !v.is_boolean()) {
                return Err(bad(format!("'{key}' must be boolean value only")));
            }
        }
        self.check_quota(ctx, &[(crate::quota::IMAGE_SIZE_TOTAL, 0)]).await?;
        let im = self.get(ctx, id).await?;
        if im.status == "active" {
            return Err(conflict("Image with status active cannot be target for import"));
        }
        if name == "web-download" && im.status != "queued" {
            return Err(conflict(format!("Image needs to be in 'queued' state to use '{name}' method")));
        }
        if name == "glance-direct" && im.status != "uploading" {
            return Err(conflict("Image needs to be staged before 'glance-direct' method can be used"));
        }
        if im.container_format.is_none() {
            return Err(conflict("'container_format' needs to be set before import"));
        }
        if im.disk_format.is_none() {
            return Err(conflict("'disk_format' needs to be set before import"));
        }
        self.enforce(ctx, names::MODIFY_IMAGE, &im).await?;
        let previous_lock = match im.properties.get("os_glance_import_task") {
            None => None,
            Some(holder) => {
                if let Some(t) = q::get_task(&self.db, holder).await.map_err(db_err)? {
                    let limit = if t.status == "pending" { LOCK_MINUTES_PENDING } else { LOCK_MINUTES };
                    if age_minutes(&t.updated_at) < limit {
                        return Err(conflict("Image has active task"));
                    }
                    if !["success", "failure"].contains(&t.status.as_str()) {
                        self.finish_task(&t.id, Err("Expired lock preempted".into())).await;
                    }
                }
                Some(holder.clone())
            }
        };
        let uri = method.get("uri").and_then(Value::as_str).map(str::to_string);
        if body.get("all_stores_must_succeed") == Some(&Value::Bool(false)) {
            return Err(bad(format!(
                "All_stores_must_succeed can only be set with enabled_backends {}",
                uri.as_deref().unwrap_or("None")
            )));
        }
        if name == "web-download" {
            let passes = match &uri {
                Some(u) => uri_allowed(u, &self.config.import_filtering_opts, true).await,
                None => false,
            };
            if !passes {
                return Err(bad(format!(
                    "URI for web-download does not pass filtering: {}",
                    uri.as_deref().unwrap_or("None")
                )));
            }
        }
        let now = q::now();
        let task = Task {
            id: uuid::Uuid::new_v4().to_string(),
            task_type: "api_image_import".into(),
            status: "pending".into(),
            owner: ctx.project_id.clone(),
            input: Some(json!({"image_id": id, "import_req": body, "backend": [null]})),
            result: None,
            message: String::new(),
            image_id: Some(id.to_string()),
            request_id: Some(ctx.request_id.clone()),
            user_id: Some(ctx.user_id.clone()),
            expires_at: None,
            lease_until: Some(self.lease_until()),
            attempts: 0,
            created_at: now.clone(),
            updated_at: now,
        };
        let mut tx = q::begin(&self.db).await.map_err(db_err)?;
        if !q::take_import_lock(&mut tx, id, &task.id, previous_lock.as_deref()).await.map_err(db_err)? {
            return Err(conflict(format!(
                "New operation on image '{id}' is not permitted as prior operation is still in progress"
            )));
        }
        q::insert_task(&mut tx, &task).await.map_err(db_err)?;
        tx.commit().await.map_err(|e| db_err(DbError::from_sqlx(e)))?;
        tracing::info!(image_id = id, task_id = %task.id, method = %name, "image import started");
        let me = self.clone();
        let (task_id, lease) = (task.id.clone(), task.lease_until.clone());
        tokio::spawn(async move { me.run_task(&task_id, lease.as_deref()).await });
        Ok(())
    }

    /// Runs (or resumes) an import task whose lease was `seen_lease`; does
    /// nothing when another runner took it first.
    pub async fn run_task(self: &Arc<Self>, task_id: &str, seen_lease: Option<&str>) {
        let lease = self.lease_until();
        let claimed = match q::claim_task(&self.db, task_id, seen_lease, &lease).await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(task_id, error = %e, "cannot start an image import; it is retried when its lease runs out");
                return;
            }
        };
        let Some(task) = claimed else { return };
        let lease = TaskLease { id: task.id.clone(), current: std::sync::Mutex::new(lease) };
        let outcome = if task.attempts > MAX_ATTEMPTS {
            Err(format!(
                "The import stopped {} times before it finished (its controller stopped); import the image again",
                task.attempts - 1
            ))
        } else {
            self.import_steps(&task, &lease).await
        };
        if outcome.is_err() && !lease.held(self).await {
            tracing::warn!(task_id, "{LEASE_LOST}");
            return;
        }
        if let Err(reason) = &outcome {
            tracing::warn!(task_id, image_id = ?task.image_id, reason = %reason, "image import failed; the image is queued again");
            if let Some(id) = &task.image_id {
                self.restore_queued(id).await;
            }
        }
        if let Some(id) = &task.image_id {
            if let Err(e) = q::release_import_lock(&self.db, id, task_id).await {
                tracing::warn!(task_id, error = %e, "cannot release an image's import lock; it expires by itself");
            }
        }
        self.finish_task(task_id, outcome).await;
    }

    async fn import_steps(&self, task: &Task, lease: &TaskLease) -> Result<(), String> {
        let input = task.input.clone().unwrap_or_default();
        let id = input["image_id"].as_str().unwrap_or_default().to_string();
        let method = input["import_req"]["method"]["name"].as_str().unwrap_or_default().to_string();
        let Some(mut im) = q::get_image_ro(&self.db, &id).await.map_err(|e| e.to_string())? else {
            self.remove_staged(&id).await;
            return Err(format!("Image {id} could not be found (deleted during the import)"));
        };
        if im.status == "active" {
            // A previous run stored it and stopped before recording success.
            self.remove_staged(&id).await;
            return Ok(());
        }
        if im.status != "importing" {
            let from = im.status.clone();
            im.status = "importing".into();
            im.properties.insert("os_glance_importing_to_stores".into(), String::new());
            im.properties.insert("os_glance_failed_import".into(), String::new());
            im.updated_at = q::now();
            self.save(&im, &from).await.map_err(|e| plain(&e))?;
        }
        if method == "web-download" {
            let uri = input["import_req"]["method"]["uri"].as_str().unwrap_or_default().to_string();
            self.download_to_staging(lease, &id, &uri).await?;
        }
        let staged = self.staged_path(&id);
        if !tokio::fs::try_exists(&staged).await.unwrap_or(false) {
            return Err(format!("Image {id} has no data in the staging area; stage it again"));
        }
        let mut source = staged;
        if self.config.image_import_opts.image_import_plugins.iter().any(|p| p == "image_conversion") {
            if let Some(converted) = self.convert_staged(&mut im).await? {
                source = converted;
            }
        }
        let file = tokio::fs::File::open(&source).await.map_err(|e| format!("cannot read the staged data: {e}"))?;
        let stream = tokio_util::io::ReaderStream::with_capacity(file, 1 << 20);
        self.receive(&mut im, stream, "importing", Lease::Task(lease)).await.map_err(|e| plain(&e))?;
        self.remove_staged(&id).await;
        tracing::info!(image_id = %id, task_id = %task.id, size = im.size, "image imported");
        Ok(())
    }

    /// Records a task's outcome (success with its image, or the reason it failed).
    async fn finish_task(&self, task_id: &str, outcome: Result<(), String>) {
        let Ok(Some(mut t)) = q::get_task(&self.db, task_id).await else { return };
        if ["success", "failure"].contains(&t.status.as_str()) {
            return;
        }
        let from = t.status.clone();
        let now = chrono::Utc::now();
        match outcome {
            Ok(()) => {
                t.status = "success".into();
                t.result = Some(json!({"image_id": t.image_id}));
            }
            Err(reason) => {
                t.status = "failure".into();
                t.message = reason;
            }
        }
        t.expires_at = Some(
            (now + chrono::Duration::hours(self.config.task_time_to_live as i64))
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string(),
        );
        t.lease_until = None;
        t.updated_at = q::now();
        if let Err(e) = q::save_task(&self.db, &t, &from).await {
            tracing::error!(task_id, error = %e, "cannot record the end of an image import");
        }
    }

    /// Imports whose controller stopped mid-way run again (or fail).
    pub async fn resume_stale_tasks(self: &Arc<Self>) -> ApiResult<usize> {
        let stale = q::stale_tasks(&self.db, &q::now()).await.map_err(db_err)?;
        let n = stale.len();
        for (id, lease) in stale {
            tracing::warn!(task_id = %id, "an image import was cut off (its controller stopped); running it again");
            let me = self.clone();
            tokio::spawn(async move { me.run_task(&id, lease.as_deref()).await });
        }
        Ok(n)
    }

    async fn download_to_staging(&self, lease: &TaskLease, id: &str, uri: &str) -> Result<u64, String> {
        let task_id = lease.id.as_str();
        let filter = self.config.import_filtering_opts.clone();
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= 10 {
                attempt.error("too many redirects")
            } else if !uri_allowed_now(attempt.url(), &filter) {
                let to = attempt.url().to_string();
                attempt.error(format!("Redirect to disallowed URL: {to}"))
            } else {
                attempt.follow()
            }
        });
        let client = reqwest::Client::builder()
            .redirect(policy)
            .connect_timeout(Duration::from_secs(30))
            .read_timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
        let response = client.get(uri).send().await.map_err(|e| format!("cannot download {uri}: {}", chain(&e)))?;
        if !response.status().is_success() {
            return Err(format!("cannot download {uri}: the server answered {}", response.status()));
        }
        let expected = response.content_length();
        let mut body = response.bytes_stream();
        let mut writer = self.staging.begin_write(id).await.map_err(|e| format!("cannot write staging data: {e}"))?;
        let mut intake = Intake::new(self, id, Lease::Task(lease), expected);
        let result: Result<(), String> = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| format!("downloading {uri} failed: {}", chain(&e)));
                let chunk = intake.take(chunk).await.map_err(|e| plain(&e))?;
                writer.write(&chunk).await.map_err(|e| format!("cannot write staging data: {e}"))?;
            }
            let size = intake.size;
            if let Some(n) = expected.filter(|n| *n != size) {
                return Err(format!(
                    "Task {task_id} failed because downloaded data size {size} is different from expected {n}"
                ));
            }
            Ok(())
        }
        .await;
        if let Err(e) = result {
            let _ = writer.abort().await;
            return Err(e);
        }
        writer.commit().await.map_err(|e| format!("cannot write staging data: {e}"))?;
        Ok(intake.size)
    }

    /// The `image_conversion` step: checks the staged data (inspector and
    /// `qemu-img info`) and converts it to the configured format. Returns
    /// the converted file, or None when no conversion was needed. The image
    /// record changes only in memory; it is saved when the data is stored.
    async fn convert_staged(&self, im: &mut Image) -> Result<Option<PathBuf>, String> {
        let out = self.config.image_conversion.output_format.clone();
        let declared = im.disk_format.clone().unwrap_or_default();
        let staged = self.staged_path(&im.id);
        let inspection = inspect_file(&staged).await.map_err(|e| format!("cannot read the staged data: {e}"))?;
        if declared == "iso" && inspection.format == DiskFormat::Iso {
            return Ok(None);
        }
        check_declared(&declared, &inspection).map_err(|r| format!("Image has disallowed configuration: {r}"))?;
        let info = qemu_img(&["info", "-f", &declared, "--output=json", path_str(&staged)?]).await?;
        let info: Value = serde_json::from_slice(&info).map_err(|e| format!("qemu-img info gave no JSON: {e}"))?;
        if info["format"].as_str() != Some(declared.as_str()) {
            return Err("Image metadata disagrees about format".into());
        }
        if info.get("backing-filename").is_some() {
            return Err("QCOW images with backing files are not allowed".into());
        }
        if info["format-specific"]["data"].get("data-file").is_some() {
            return Err("QCOW images with data-file set are not allowed".into());
        }
        if declared == out {
            return Ok(None);
        }
        let converted = self.converted_path(&im.id);
        let result =
            qemu_img(&["convert", "-f", &declared, "-O", &out, path_str(&staged)?, path_str(&converted)?]).await;
        if let Err(e) = result {
            let _ = tokio::fs::remove_file(&converted).await;
            return Err(e);
        }
        let check = inspect_file(&converted).await.map_err(|e| format!("cannot read the converted data: {e}"))?;
        if check_declared(&out, &check).is_err() {
            let _ = tokio::fs::remove_file(&converted).await;
            return Err("Converted image in unexpected format".into());
        }
        tracing::info!(image_id = %im.id, from = %declared, to = %out, "imported image converted");
        im.disk_format = Some(out);
        im.container_format = Some("bare".into());
        Ok(Some(converted))
    }

    // ---------- tasks ----------

    fn tasks_api_access(&self, ctx: &RequestContext) -> ApiResult<()> {
        if self.allowed(ctx, names::TASKS_API_ACCESS, &json!({})) {
            Ok(())
        } else {
            Err(gerr(StatusCode::FORBIDDEN, "You are not authorized to complete tasks_api_access action."))
        }
    }

    /// `GET /v2/tasks`: the caller's tasks (every task for admins).
    pub async fn list_tasks(&self, ctx: &RequestContext) -> ApiResult<Vec<Task>> {
        self.tasks_api_access(ctx)?;
        let admin = ctx.has_role("admin");
        let tasks = q::live_tasks(&self.db, &q::now()).await.map_err(db_err)?;
        Ok(tasks.into_iter().filter(|t| admin || t.owner == ctx.project_id).collect())
    }

    pub async fn get_task(&self, ctx: &RequestContext, id: &str) -> ApiResult<Task> {
        self.tasks_api_access(ctx)?;
        let missing = || gerr(StatusCode::NOT_FOUND, format!("Failed to find task {id}"));
        let t = q::get_task(&self.db, id).await.map_err(db_err)?.ok_or_else(missing)?;
        if !ctx.has_role("admin") && t.owner != ctx.project_id {
            return Err(missing());
        }
        Ok(t)
    }

    /// `GET /v2/images/{id}/tasks`: the import tasks of an image the caller may see.
    pub async fn image_tasks(&self, ctx: &RequestContext, id: &str) -> ApiResult<Vec<Task>> {
        let im = self.find(ctx, id, |_| gerr(StatusCode::NOT_FOUND, "The resource could not be found.")).await?;
        let admin = ctx.has_role("admin");
        let tasks = q::image_tasks(&self.db, &im.id, &q::now()).await.map_err(db_err)?;
        Ok(tasks.into_iter().filter(|t| admin || t.owner == ctx.project_id).collect())
    }
}

fn staging_error(id: &str, e: std::io::Error) -> ApiError {
    if e.raw_os_error() == Some(28) {
        return gerr(StatusCode::PAYLOAD_TOO_LARGE, format!("Image storage media is full: {e}"));
    }
    tracing::error!(image_id = id, error = %e, "cannot write to the image staging area; check its directory ([image] staging_dir)");
    gerr(StatusCode::SERVICE_UNAVAILABLE, format!("Insufficient permissions on image storage media: {e}"))
}

/// An error with its causes, `outer: inner: ...`.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(&format!(": {s}"));
        source = s.source();
    }
    out
}

fn path_str(p: &Path) -> Result<&str, String> {
    p.to_str().ok_or_else(|| format!("{} is not a UTF-8 path", p.display()))
}

/// Runs `qemu-img` (no shell) with a time limit; its stdout, or why it failed.
async fn qemu_img(args: &[&str]) -> Result<Vec<u8>, String> {
    let mut cmd = tokio::process::Command::new("qemu-img");
    cmd.args(args).kill_on_drop(true);
    let run = tokio::time::timeout(Duration::from_secs(3600), cmd.output());
    let out = match run.await {
        Err(_) => return Err(format!("qemu-img {} took too long", args[0])),
        Ok(Err(e)) => {
            return Err(format!("cannot run qemu-img ({e}); install qemu-utils on the controller for image_conversion"))
        }
        Ok(Ok(out)) => out,
    };
    if !out.status.success() || !out.stderr.is_empty() && args[0] == "info" {
        return Err(format!("qemu-img {} failed: {}", args[0], String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(out.stdout)
}

async fn inspect_file(path: &Path) -> std::io::Result<Inspection> {
    let mut file = tokio::fs::File::open(path).await?;
    let mut inspector = Inspector::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            return Ok(inspector.finish());
        }
        inspector.feed(&buf[..n]);
    }
}

/// Glance's `validate_import_uri`; `resolve` also requires a host name to
/// resolve (not done for redirects, which must decide without waiting).
pub async fn uri_allowed(uri: &str, opts: &ImportFilteringOpts, resolve: bool) -> bool {
    let Ok(url) = reqwest::Url::parse(uri) else { return false };
    // URL parsing turns integer and short dotted hosts (2130706433, 127.1)
    // into addresses; Glance refuses them, so look at the host as written.
    let written = raw_host(uri);
    if written.chars().all(|c| c.is_ascii_digit() || c == '.') && written.parse::<std::net::Ipv4Addr>().is_err() {
        return false;
    }
    if !uri_allowed_now(&url, opts) {
        return false;
    }
    if let Some(url::Host::Domain(d)) = url.host() {
        if resolve && tokio::net::lookup_host((d, 80)).await.map(|mut a| a.next().is_none()).unwrap_or(true) {
            return false;
        }
    }
    true
}

/// The host of a URL as its text has it (no userinfo, no port).
fn raw_host(uri: &str) -> &str {
    let rest = uri.split_once("://").map(|(_, r)| r).unwrap_or(uri);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map(|(_, h)| h).unwrap_or(authority);
    if host.starts_with('[') {
        return host;
    }
    host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host)
}

fn uri_allowed_now(url: &reqwest::Url, o: &ImportFilteringOpts) -> bool {
    fn passes<T: PartialEq>(v: &T, allowed: &[T], denied: &[T]) -> bool {
        if !allowed.is_empty() {
            allowed.contains(v)
        } else {
            !denied.contains(v)
        }
    }
    let scheme = url.scheme().to_string();
    if scheme.is_empty() || !passes(&scheme, &o.allowed_schemes, &o.disallowed_schemes) {
        return false;
    }
    let host = match url.host() {
        None => return false,
        Some(url::Host::Ipv4(a)) => a.to_string(),
        Some(url::Host::Ipv6(a)) => a.to_string(),
        // Integer and short dotted forms (2130706433, 127.1) hide addresses.
        Some(url::Host::Domain(d)) if d.chars().all(|c| c.is_ascii_digit() || c == '.') => return false,
        Some(url::Host::Domain(d)) => d.to_string(),
    };
    if host.is_empty() || !passes(&host, &o.allowed_hosts, &o.disallowed_hosts) {
        return false;
    }
    match url.port() {
        Some(port) => passes(&port, &o.allowed_ports, &o.disallowed_ports),
        None => true,
    }
}

/// A task as `/v2/tasks` shows it.
pub fn task_json(t: &Task, full: bool) -> Value {
    let mut v = json!({
        "id": t.id,
        "type": t.task_type,
        "status": t.status,
        "owner": t.owner,
        "created_at": t.created_at,
        "updated_at": t.updated_at,
        "self": format!("/v2/tasks/{}", t.id),
        "schema": "/v2/schemas/task",
    });
    let m = v.as_object_mut().expect("object");
    if full {
        m.insert("input".into(), t.input.clone().unwrap_or(Value::Null));
        m.insert("result".into(), t.result.clone().unwrap_or(Value::Null));
        m.insert("message".into(), json!(t.message));
    }
    for (k, val) in [
        ("image_id", &t.image_id),
        ("request_id", &t.request_id),
        ("user_id", &t.user_id),
        ("expires_at", &t.expires_at),
    ] {
        if let Some(val) = val {
            m.insert(k.into(), json!(val));
        }
    }
    v
}

/// A task as `/v2/images/{id}/tasks` shows it (Glance's database shape).
pub fn image_task_json(t: &Task) -> Value {
    let ts = |s: &str| format!("{}.000000", s.trim_end_matches('Z'));
    json!({
        "id": t.id,
        "type": t.task_type,
        "status": t.status,
        "owner": t.owner,
        "expires_at": t.expires_at.as_deref().map(ts),
        "created_at": ts(&t.created_at),
        "updated_at": ts(&t.updated_at),
        "deleted_at": null,
        "deleted": false,
        "image_id": t.image_id,
        "request_id": t.request_id,
        "user_id": t.user_id,
        "input": t.input,
        "result": t.result,
        "message": t.message,
    })
}
